import json
import logging

import pytest
import torch
from PIL import Image

import genkit


def _write(tmp_path, lines):
    (tmp_path / "captions.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def _folder(tmp_path, **values):
    return genkit.build_component(
        "dataset", genkit.make_params("dataset", "folder", {"path": str(tmp_path), "size": 16, **values})
    )


def test_folder_loads_any_mode_and_size(tmp_path):
    Image.new("RGBA", (40, 20), (255, 0, 0, 0)).save(tmp_path / "clear.png")  # fully transparent -> white
    Image.new("L", (16, 30), 0).save(tmp_path / "gray.png")
    Image.new("RGB", (64, 64), (0, 0, 255)).save(tmp_path / "blue.jpg")
    _write(
        tmp_path,
        [
            {"file": "clear.png", "caption": "nothing", "split": "validation", "source": "x"},
            {"file": "gray.png", "caption": "black"},
            {"file": "blue.jpg", "caption": "blue"},
        ],
    )
    ds = _folder(tmp_path, random_crop=False)
    train, validation = ds.split("train"), ds.split("validation")
    assert len(train) == 2 and len(validation) == 1
    assert validation[0].meta == {"source": "x"}
    assert torch.allclose(validation[0].image, torch.ones(3, 16, 16))
    assert train[0].image.shape == (3, 16, 16) and train[0].image.max() == 0
    assert ds.captions("train") == ["black", "blue"]


def test_corrupt_images_are_skipped_and_reported(tmp_path, caplog):
    Image.new("RGB", (32, 32), (0, 255, 0)).save(tmp_path / "good.png")
    Image.new("RGB", (32, 32), (0, 255, 0)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.png").write_text("not an image")
    _write(
        tmp_path,
        [
            {"file": name, "caption": name, "split": "train"}
            for name in ["good.png", "truncated.png", "text.png", "missing.png"]
        ]
        + [{"file": "full.png", "caption": "v", "split": "validation"}],
    )
    ds = _folder(tmp_path)
    with caplog.at_level(logging.WARNING, logger="genkit.data"):
        train = ds.split("train")  # lazy: nothing is decoded yet
        assert not ds.skipped
        # an unreadable item is replaced by the next readable one; each is skipped (and named) once
        assert [train[i].caption for i in range(len(train))] == ["good.png"] * 4
        assert [train[i].caption for i in range(len(train))] == ["good.png"] * 4
    assert sorted(name for name, _ in ds.skipped) == ["missing.png", "text.png", "truncated.png"]
    for name in ("missing.png", "text.png", "truncated.png"):
        assert caplog.text.count(f"skipping {tmp_path / name}") == 1


def test_no_readable_image_is_a_clear_error(tmp_path):
    (tmp_path / "a.png").write_text("nope")
    (tmp_path / "b.png").write_text("nope")
    _write(tmp_path, [{"file": "a.png", "caption": "a"}, {"file": "b.png", "caption": "b"}])
    with pytest.raises(genkit.InputError, match="no readable image"):
        _folder(tmp_path).split("train")[0]


def test_hash_split_is_deterministic_and_disjoint(tmp_path):
    for i in range(30):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(tmp_path / f"{i}.png")
    _write(tmp_path, [{"file": f"{i}.png", "caption": str(i)} for i in range(30)])
    a, b = _folder(tmp_path, validation_fraction=0.2), _folder(tmp_path, validation_fraction=0.2)
    assert a.captions("validation") == b.captions("validation")
    assert a.captions("validation") and not set(a.captions("validation")) & set(a.captions("train"))
    assert len(a.captions("validation")) + len(a.captions("train")) == 30


def test_bad_index_lines_name_the_line(tmp_path):
    (tmp_path / "captions.jsonl").write_text('{"file": "a.png", "caption": "a"}\n{oops\n')
    with pytest.raises(genkit.InputError, match=r"captions.jsonl:2"):
        _folder(tmp_path).captions("train")
    with pytest.raises(genkit.InputError, match="data.path"):
        genkit.build_component("dataset", genkit.make_params("dataset", "folder", {})).captions("train")

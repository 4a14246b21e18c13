import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import genkit
from genkit.data.shapes import draw_shapes
from genkit.data.shapes_judge import detect_shapes, judge_image


def _dataset(**values):
    return genkit.build_component(
        "dataset", genkit.make_params("dataset", "shapes", {"count": 64, "validation_count": 16, **values})
    )


def test_shapes_is_deterministic_and_splits_differ():
    a, b = _dataset(seed=3), _dataset(seed=3)
    for i in (0, 5, 63):
        assert torch.equal(a.split("train")[i].image, b.split("train")[i].image)
        assert a.split("train")[i].caption == b.split("train")[i].caption
    train = {a.split("train")[i].image.numpy().tobytes() for i in range(64)}
    validation = {a.split("validation")[i].image.numpy().tobytes() for i in range(16)}
    assert len(train) > 50 and not train & validation
    assert _dataset(seed=4).split("train")[0].caption != a.split("train")[0].caption or not torch.equal(
        _dataset(seed=4).split("train")[0].image, a.split("train")[0].image
    )


def test_shapes_examples_have_truth_in_caption_and_shape():
    ds = _dataset(size=32)
    assert ds.image_size == 32
    for i in range(20):
        ex = ds.split("train")[i]
        assert ex.image.shape == (3, 32, 32) and 0 <= ex.image.min() and ex.image.max() <= 1
        for item in ex.meta["shapes"]:
            assert item["color"] in ex.caption and item["shape"] in ex.caption
    assert len(ds.captions("validation")) == 16


def test_params_reject_unknown_colour():
    with pytest.raises(genkit.InputError, match="colors"):
        genkit.make_params("dataset", "shapes", {"colors": ["mauve"]})


def test_judge_agrees_with_generator_on_most_items():
    ds = _dataset(count=200)
    scores = [judge_image(ds.split("train")[i].image, ds.split("train")[i].meta) for i in range(200)]
    assert np.mean([s["color"] for s in scores]) == 1.0
    assert np.mean([s["all"] for s in scores]) > 0.9


@given(
    shape=st.sampled_from(["circle", "square", "triangle", "diamond"]),
    color=st.sampled_from(["red", "blue", "green", "yellow", "purple", "cyan"]),
)
def test_judge_reads_large_shapes_exactly(shape, color):
    item = {"shape": shape, "color": color, "size": "large", "position": "center", "center": [0.5, 0.5], "extent": 0.5}
    image = torch.from_numpy(draw_shapes([item], 64)).permute(2, 0, 1).float() / 255
    assert judge_image(image, {"shapes": [item]})["all"] == 1.0
    wrong = dict(item, color="red" if color != "red" else "blue")
    assert judge_image(image, {"shapes": [wrong]})["color"] == 0.0


def test_judge_scores_position_and_size_only_where_the_caption_says_them():
    sizes = {"small": 0.3, "large": 0.5}
    item = {
        "shape": "square",
        "color": "red",
        "size": "large",
        "position": "top left",
        "center": [0.2, 0.2],
        "extent": 0.5,
    }
    image = torch.from_numpy(draw_shapes([item], 64)).permute(2, 0, 1).float() / 255
    elsewhere = dict(item, position="bottom right")
    small = dict(item, size="small", extent=0.3)
    meta = {"sizes": sizes}
    assert judge_image(image, {**meta, "shapes": [item]}, "a large red square at the top left")["all"] == 1.0
    unsaid = judge_image(image, {**meta, "shapes": [elsewhere]}, "a red square")
    assert unsaid["position"] is None and unsaid["size"] is None and unsaid["all"] == 1.0
    said = judge_image(image, {**meta, "shapes": [elsewhere]}, "a red square at the bottom right")
    assert said["position"] == 0.0 and said["all"] == 0.0
    assert judge_image(image, {**meta, "shapes": [small]}, "a small red square")["size"] == 0.0
    assert judge_image(image, {**meta, "shapes": [small]})["size"] == 0.0  # no caption: every attribute counts


def test_judge_sees_a_blank_image_as_nothing():
    assert detect_shapes(torch.ones(3, 32, 32)) == []


def test_sizes_set_the_caption_words_and_the_drawn_extent():
    ds = _dataset(sizes={"tiny": 0.2, "huge": 0.7}, max_shapes=1)
    seen = set()
    for i in range(40):
        example = ds.split("train")[i]
        item = example.meta["shapes"][0]
        seen.add(item["size"])
        assert abs(item["extent"] - {"tiny": 0.2, "huge": 0.7}[item["size"]]) <= 0.07 + 1e-9
        assert "small" not in example.caption and "large" not in example.caption
        painted = (example.image.min(dim=0).values < 0.5).float().mean().item()  # share of non-white pixels
        assert painted > (0.1 if item["size"] == "huge" else 0.0)
    assert seen == {"tiny", "huge"}
    pair = _dataset(sizes={"small": 0.3, "large": 0.5}, max_shapes=2)
    assert all(
        s["size"] == "small"
        for i in range(30)
        for s in pair.split("train").describe(i)[1]["shapes"]
        if len(pair.split("train").describe(i)[1]["shapes"]) == 2
    )


@pytest.mark.parametrize(
    "sizes, message",
    [({}, "at least one size"), ({"two words": 0.3}, "single word"), ({"big": 0.95}, "between 0.1 and 0.9")],
)
def test_bad_sizes_are_one_line_errors_naming_the_key(sizes, message):
    with pytest.raises(genkit.InputError, match=f"sizes.*{message}"):
        genkit.make_params("dataset", "shapes", {"sizes": sizes})


def _triples(split, count):
    return {(s["color"], s["shape"], s["position"]) for i in range(count) for s in split.describe(i)[1]["shapes"]}


@pytest.mark.parametrize("held_out", [1, 2])
def test_held_out_combinations_never_reach_training_and_validation_has_only_them(held_out):
    from genkit.data.shapes import held_out_positions

    ds = _dataset(count=3000, validation_count=200, max_shapes=1, held_out=held_out)
    held = {(c, s, p) for (c, s), places in held_out_positions(ds.params).items() for p in places}
    assert len(held) == 6 * 4 * held_out
    train, validation = _triples(ds.split("train"), 3000), _triples(ds.split("validation"), 200)
    assert not train & held and validation <= held and len(validation) > len(held) // 2
    assert len(train) == 6 * 4 * 9 - len(held)  # every other triple is trained on
    # only the triples are new: every pair of attributes of a held-out item was seen in training
    for c, s, p in held:
        assert any(t[:2] == (c, s) for t in train) and any(t[0] == c and t[2] == p for t in train)
        assert any(t[1:] == (s, p) for t in train)
    captions = ds.captions("validation")
    assert not set(captions) & set(ds.captions("train"))
    assert all(" at the " in c or " in the " in c or " on the " in c for c in captions)  # they say where


def test_held_out_zero_keeps_the_data_as_it_was():
    ds = _dataset(seed=0, max_shapes=1)  # pinned: recipes and measured figures rely on these items
    assert ds.captions("train")[:3] == ["a large cyan square", "a cyan square in the center", "a green square"]


def test_held_out_needs_single_shapes():
    with pytest.raises(genkit.InputError, match="held_out needs max_shapes: 1"):
        genkit.make_params("dataset", "shapes", {"held_out": 1, "max_shapes": 2})


def test_demo_prompts_are_held_out_captions():
    from pathlib import Path

    import yaml

    recipe = yaml.safe_load((Path(__file__).parents[2] / "genkit" / "recipes" / "shapes" / "demo.yaml").read_text())
    ds = genkit.build_component("dataset", genkit.make_params("dataset", "shapes", recipe["data"]))
    prompts = recipe["stages"]["sample"]["prompts"]
    assert not set(prompts) & set(ds.captions("train"))
    assert set(prompts) <= set(ds.captions("validation"))

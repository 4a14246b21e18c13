"""``genkit data pack|inspect|verify`` through the CLI entry point, on tiny images built in each test."""

import csv
import io
import json
import logging
import shutil
import sys

import pytest
from PIL import Image

from genkit.cli import main
from genkit.data.shards import decode_caption, decode_image, expand_shards, read_shard


@pytest.fixture
def cli(capsys):
    """Run ``genkit ARGS...``; returns (exit code, stdout, stderr)."""

    def call(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _image_bytes(size, colour=(200, 30, 30), fmt="JPEG"):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return buffer.getvalue()


def _folder(root, n=25, lines=()):
    """A folder dataset: item i is (20 + i) x 30 px, png for odd i, jpg for even; captions of i % 5 + 2 words."""
    (root / "img").mkdir(parents=True)
    rows = []
    for i in range(n):
        name = f"img/{i}.{'png' if i % 2 else 'jpg'}"
        (root / name).write_bytes(_image_bytes((20 + i, 30), (i * 9, 80, 160), "PNG" if i % 2 else "JPEG"))
        rows.append(
            {
                "file": name,
                "caption": f"item {i}" + " word" * (i % 5),
                "extra": i,
                **({"split": "validation"} if i % 4 == 0 else {}),
            }
        )
    rows += list(lines)
    (root / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return rows


def _read_back(out_dir, caption_key="txt"):
    """{caption: (key, image size, extension, json meta)} over every sample of the shards in out_dir."""
    found = {}
    for path in expand_shards(str(out_dir)):
        for raw in read_shard(path):
            caption = decode_caption(raw, caption_key)
            assert caption not in found, f"{caption!r} packed twice"
            ext = next(e for e in ("jpg", "png", "webp") if e in raw)
            found[caption] = (raw["__key__"], decode_image(raw).size, ext, json.loads(raw["json"]))
    return found


def test_pack_folder_round_trip(tmp_path, cli):
    rows = _folder(tmp_path / "src")
    code, out, _ = cli("data", "pack", tmp_path / "src", tmp_path / "out", "--per-shard", "10")
    assert code == 0 and "packed 25 of 25 items into 3 shards" in out
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "00000.tar",
        "00000_stats.json",
        "00001.tar",
        "00001_stats.json",
        "00002.tar",
        "00002_stats.json",
        "pack.json",
    ]
    stats = [json.loads((tmp_path / "out" / f"0000{i}_stats.json").read_text()) for i in range(3)]
    assert [(s["count"], s["successes"], s["failed"], s["shard"]) for s in stats] == [
        (10, 10, 0, "00000"),
        (10, 10, 0, "00001"),
        (5, 5, 0, "00002"),
    ]
    summary = json.loads((tmp_path / "out" / "pack.json").read_text())
    assert (summary["items"], summary["packed"], summary["skipped"]) == (25, 25, 0)
    found = _read_back(tmp_path / "out")
    assert len(found) == 25
    for i, row in enumerate(rows):
        key, size, ext, meta = found[row["caption"]]
        assert size == (20 + i, 30) and ext == ("png" if i % 2 else "jpg")  # kept as they were
        assert key == f"{i // 10:05d}{i % 10:04d}" and meta["key"] == key
        assert meta["source"] == row["file"] and (meta["width"], meta["height"]) == size
        assert meta["extra"] == i and meta.get("split") == row.get("split")
    original = (tmp_path / "src" / "img" / "1.png").read_bytes()
    assert any(raw.get("png") == original for raw in read_shard(str(tmp_path / "out" / "00000.tar")))


def test_keys_stay_unique_with_large_shards(tmp_path):
    from genkit.data.pack import ShardSet

    shards = ShardSet(tmp_path, per_shard=20_000, mtime=0)
    assert shards.next_key() == "00000" + "00000"
    shards.abort()


def test_pack_resize_and_format(tmp_path, cli):
    _folder(tmp_path / "src", n=6)
    code, _, _ = cli("data", "pack", tmp_path / "src", tmp_path / "out", "--resize", "16", "--format", "webp")
    assert code == 0
    found = _read_back(tmp_path / "out")
    assert len(found) == 6 and {ext for _, _, ext, _ in found.values()} == {"webp"}
    for i in range(6):
        _, size, _, meta = found[f"item {i}" + " word" * (i % 5)]
        assert min(size) == 16 and size == (meta["width"], meta["height"])
        assert (meta["original_width"], meta["original_height"]) == (20 + i, 30)
        assert abs(size[1] / size[0] - 30 / (20 + i)) < 0.06  # aspect kept


def test_pack_csv_and_jsonl_indexes_with_custom_columns(tmp_path, cli):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for i in range(4):
        (pictures / f"p{i}.png").write_bytes(_image_bytes((24, 24 + i), fmt="PNG"))
    index = tmp_path / "meta" / "index.csv"
    index.parent.mkdir()
    with open(index, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["filename", "alt", "license"])
        writer.writerows([[f"../pictures/p{i}.png", f"csv picture {i}", "cc-by"] for i in range(3)])
        writer.writerow([str(pictures / "p3.png"), "csv picture 3", "cc0"])  # absolute: allowed in an index
    code, out, _ = cli(
        "data", "pack", index, tmp_path / "from_csv", "--image-column", "filename", "--caption-column", "alt"
    )
    assert code == 0 and "packed 4 of 4" in out
    found = _read_back(tmp_path / "from_csv")
    assert sorted(found) == [f"csv picture {i}" for i in range(4)]
    assert found["csv picture 3"][3]["license"] == "cc0" and found["csv picture 1"][1] == (24, 25)
    assert found["csv picture 0"][3]["source"] == "../pictures/p0.png"

    jsonl = tmp_path / "pictures" / "list.jsonl"
    jsonl.write_text("\n".join(json.dumps({"path": f"p{i}.png", "text": f"jsonl {i}", "id": i}) for i in range(4)))
    code, out, _ = cli("data", "pack", jsonl, tmp_path / "from_jsonl", "--format", "jpg")
    assert code == 0
    found = _read_back(tmp_path / "from_jsonl")
    assert sorted(found) == [f"jsonl {i}" for i in range(4)] and found["jsonl 2"][3]["id"] == 2
    assert {ext for _, _, ext, _ in found.values()} == {"jpg"}


def test_pack_skips_bad_items_and_names_them(tmp_path, cli, caplog):
    src = tmp_path / "src"
    (tmp_path / "outside.jpg").write_bytes(_image_bytes((20, 20)))
    _folder(
        src,
        n=4,
        lines=[
            {"file": "img/corrupt.jpg", "caption": "corrupt"},
            {"file": "img/missing.jpg", "caption": "missing"},
            {"file": "../outside.jpg", "caption": "escapes"},
            {"file": str(tmp_path / "outside.jpg"), "caption": "absolute"},
        ],
    )
    (src / "img" / "corrupt.jpg").write_bytes(_image_bytes((30, 30))[:200])  # truncated JPEG
    with caplog.at_level(logging.WARNING, logger="genkit.data"):
        code, out, _ = cli("data", "pack", src, tmp_path / "out", "--per-shard", "3")
    assert code == 0 and "packed 4 of 8 items into 2 shards" in out and "4 skipped" in out
    for name in ("img/corrupt.jpg", "img/missing.jpg", "../outside.jpg", "outside.jpg"):
        assert name in caplog.text
    summary = json.loads((tmp_path / "out" / "pack.json").read_text())
    reasons = {item["source"]: item["reason"] for item in summary["skipped_items"]}
    assert reasons == {
        "img/corrupt.jpg": "unreadable image",
        "img/missing.jpg": "missing file",
        "../outside.jpg": "path leaves the source directory",
        str(tmp_path / "outside.jpg"): "absolute path",
    }
    assert summary["skipped_by_reason"]["missing file"] == 1
    assert sum(s["failed"] for s in summary["shards"]) == 4
    assert len(_read_back(tmp_path / "out")) == 4


def test_non_empty_out_dir_is_refused_without_force(tmp_path, cli, caplog):
    _folder(tmp_path / "src", n=5)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("mine")
    (out_dir / "foreign.tar").write_bytes(b"someone else's")
    code, out, err = cli("data", "pack", tmp_path / "src", out_dir)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert str(out_dir) in err and "--force" in err and "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["foreign.tar", "notes.txt"]
    assert cli("data", "pack", tmp_path / "src", out_dir, "--force", "--per-shard", "2")[0] == 0
    assert len(list(out_dir.glob("0000?.tar"))) == 3
    # a second forced pack replaces the first one's shards (stale ones removed) and leaves other files alone
    with caplog.at_level(logging.WARNING, logger="genkit.data"):
        assert cli("data", "pack", tmp_path / "src", out_dir, "--force")[0] == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "00000.tar",
        "00000_stats.json",
        "foreign.tar",
        "notes.txt",
        "pack.json",
    ]
    assert (out_dir / "notes.txt").read_text() == "mine" and "did not write (foreign.tar)" in caplog.text


def test_pack_input_errors_are_one_line(tmp_path, cli, monkeypatch):
    _folder(tmp_path / "src", n=2)
    code, _, err = cli("data", "pack", tmp_path / "src", tmp_path / "o1", "--image-column", "nope")
    assert code == 2 and "--image-column: 'nope' is not a column" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"file": "a.png", "caption": "a"}\n{broken\n')
    code, _, err = cli("data", "pack", bad, tmp_path / "o2")
    assert code == 2 and f"{bad}:2: not valid JSON" in err and not (tmp_path / "o2").exists()
    code, _, err = cli("data", "pack", tmp_path / "nowhere", tmp_path / "o3")
    assert code == 2 and "no such file or directory" in err
    remote = tmp_path / "remote.jsonl"
    remote.write_text(json.dumps({"url": "https://example.com/a.jpg", "caption": "far away"}) + "\n")
    code, _, err = cli("data", "pack", remote, tmp_path / "o5")
    assert code == 2 and "no image path column" in err and "--image-column" in err
    (tmp_path / "gone").mkdir()
    (tmp_path / "gone" / "captions.jsonl").write_text(json.dumps({"file": "x.png", "caption": "x"}) + "\n")
    code, out, err = cli("data", "pack", tmp_path / "gone", tmp_path / "o6")
    assert code == 2 and "no item could be packed" in err and "1 missing file" in out
    assert json.loads((tmp_path / "o6" / "pack.json").read_text())["skipped"] == 1
    (tmp_path / "index.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    code, _, err = cli("data", "pack", tmp_path / "index.parquet", tmp_path / "o4")
    assert code == 2 and "pip install pyarrow" in err and len(err.strip().splitlines()) == 1


def test_pack_parquet_index(tmp_path, cli):
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(_image_bytes((30, 20 + i)))
    table = pa.table(
        {"image": [f"{i}.jpg" for i in range(3)], "text": [f"parquet {i}" for i in range(3)], "score": [0.5, 0.25, 1.0]}
    )
    pq.write_table(table, tmp_path / "index.parquet")
    code, out, _ = cli("data", "pack", tmp_path / "index.parquet", tmp_path / "out")
    assert code == 0 and "packed 3 of 3" in out
    found = _read_back(tmp_path / "out")
    assert found["parquet 2"][1] == (30, 22) and found["parquet 1"][3]["score"] == 0.25


@pytest.fixture
def packed(tmp_path, cli):
    _folder(tmp_path / "src")
    assert cli("data", "pack", tmp_path / "src", tmp_path / "shards", "--per-shard", "10")[0] == 0
    return tmp_path / "shards"


def test_inspect_reports_and_draws_a_contact_sheet(packed, tmp_path, cli):
    sheet = tmp_path / "sheet.png"
    code, out, _ = cli("data", "inspect", packed, "--sample", "6", "--out", sheet)
    assert code == 0
    assert "shards              3" in out and "samples             25" in out and "min 5, mean 8.33, max 10" in out
    assert "width  min/med/max  20/32/44 px" in out and "caption words       min/med/max 2/4/6" in out
    assert "      2 words  " in out and "skipped             none" in out
    with Image.open(sheet) as image:
        image.load()
        assert image.size[0] > 3 * 96
    first = sheet.read_bytes()
    code, out, _ = cli("data", "inspect", str(packed / "*.tar"), "--sample", "6", "--out", sheet, "--json")
    report = json.loads(out)
    assert (report["shards"], report["samples"], report["readable"]) == (3, 25, 25)
    assert sum(row["count"] for row in report["caption_histogram"]) == 25
    assert report["small_share"] == 1.0 and report["contact_sheet"] == str(sheet)
    assert sheet.read_bytes() == first  # same seed, same sheet
    cli("data", "inspect", packed, "--sample", "6", "--seed", "1", "--out", sheet)
    assert sheet.read_bytes() != first


def _hand_written_shard(path, samples):
    """A shard written the way img2dataset writes one (webdataset.TarWriter, KEY.jpg + KEY.txt + KEY.json)."""
    from webdataset import TarWriter

    with TarWriter(str(path)) as writer:
        for sample in samples:
            writer.write(sample)


def _img2dataset_dir(root):
    root.mkdir()
    for shard in range(2):
        samples = []
        for i in range(3):
            key = f"{shard:05d}{i:04d}"
            caption = f"downloaded {shard} {i}"
            samples.append(
                {
                    "__key__": key,
                    "jpg": _image_bytes((32, 24 + i)),
                    "txt": caption.encode(),
                    "json": json.dumps(
                        {
                            "url": f"https://x/{key}.jpg",
                            "caption": caption,
                            "key": key,
                            "status": "success",
                            "width": 32,
                            "height": 24 + i,
                        }
                    ).encode(),
                }
            )
        _hand_written_shard(root / f"{shard:05d}.tar", samples)
        (root / f"{shard:05d}_stats.json").write_text(json.dumps({"count": 3, "successes": 3}))
        (root / f"{shard:05d}.parquet").write_bytes(b"not parquet, not a shard")
    return root


def test_img2dataset_layout_reads_the_same(tmp_path, cli):
    root = _img2dataset_dir(tmp_path / "downloaded")
    code, out, _ = cli("data", "verify", root)
    assert code == 0 and out.strip() == "6 samples ok, 0 bad in 2 shards"
    code, out, _ = cli("data", "inspect", root, "--caption-key", "json:caption", "--json", "--out", tmp_path / "c.png")
    report = json.loads(out)
    assert (report["shards"], report["samples"], report["skipped"]) == (2, 6, 0)
    assert report["height"] == {"min": 24, "median": 25.0, "max": 26}


def test_verify_names_every_problem(packed, tmp_path, cli):
    code, out, _ = cli("data", "verify", packed)
    assert code == 0 and out.strip() == "25 samples ok, 0 bad in 3 shards"
    bad = tmp_path / "bad"
    bad.mkdir()
    good = _image_bytes((20, 20))
    _hand_written_shard(
        bad / "00000.tar",
        [
            {"__key__": "ok", "jpg": good, "txt": b"fine"},
            {"__key__": "corrupt", "jpg": good[: len(good) // 2], "txt": b"half a jpeg"},
            {"__key__": "nocaption", "jpg": good, "json": b"{}"},
            {"__key__": "latin1", "jpg": good, "txt": "caf\xe9".encode("latin-1")},
            {"__key__": "noimage", "txt": b"words only"},
        ],
    )
    data = (packed / "00001.tar").read_bytes()
    (bad / "00001.tar").write_bytes(data[: len(data) // 2 + 100])  # cut inside a member
    code, out, _ = cli("data", "verify", bad)
    assert code == 1
    shard0, shard1 = bad / "00000.tar", bad / "00001.tar"
    assert f"{shard0}:corrupt: corrupt .jpg" in out
    assert f"{shard0}:nocaption: no caption" in out
    assert f"{shard0}:latin1: caption is not UTF-8" in out
    assert f"{shard0}:noimage: no image member" in out
    assert f"{shard1}: truncated or corrupt tar" in out
    assert f"{shard0}:ok" not in out
    assert out.strip().splitlines()[-1].endswith(" 4 bad in 2 shards; 1 damaged shard")
    code, out, _ = cli("data", "verify", bad, "--json")
    result = json.loads(out)
    assert code == 1 and result["bad"] == 4 and result["damaged_shards"] == [str(shard1)]
    assert result["problems_by_reason"]["caption is not UTF-8"] == 1


def test_patterns_that_match_nothing_are_one_line_errors(tmp_path, cli):
    code, _, err = cli("data", "inspect", str(tmp_path / "none" / "*.tar"))
    assert code == 2 and "*.tar: the pattern matches no file" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("data", "verify", str(tmp_path / "{00000..00002}.tar"))
    assert code == 2 and "00000.tar" in err and "Traceback" not in err
    code, _, err = cli("data")
    assert code == 2 and "pack, inspect, verify or icons" in err


def test_shards_copied_elsewhere_read_the_same(packed, tmp_path, cli):
    """The shards are self-contained: a copy without pack.json and stats verifies the same."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in packed.glob("*.tar"):
        shutil.copy(path, copy / path.name)
    code, out, _ = cli("data", "verify", copy)
    assert code == 0 and "25 samples ok" in out

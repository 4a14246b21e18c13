"""The icon set builder (genkit.data.icon_themes, `genkit data icons`) on icon themes the tests draw themselves:
source choice, rendering of PNG and SVG, deduplication, the split by caption, the folder dataset it writes. The
real Debian packages are fetched only by the benchmark (`benchmarks/bench_stage1.py`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import genkit
from genkit.data.icon_themes import build_icon_set, caption_of, design_size, find_sources, render, unpack_theme
from genkit.data.split import hash_fraction
from genkit.errors import InputError

SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 48 48">
<rect x="0" y="0" width="48" height="48" fill="white"/><circle cx="24" cy="24" r="{r}" fill="{colour}"/></svg>"""


def _png(path: Path, size: int, colour: tuple[int, int, int], shape: str = "box") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))  # transparent: composited on white
    draw = ImageDraw.Draw(image)
    box = (size // 4, size // 4, 3 * size // 4, 3 * size // 4)
    (draw.rectangle if shape == "box" else draw.ellipse)(box, fill=(*colour, 255))
    image.save(path)


def _theme(root: Path, colours: dict[str, tuple[int, int, int]]) -> Path:
    """A theme folder in the freedesktop layout: apps/16 and apps/64 PNGs per name, plus aliases and a glyph."""
    for name, colour in colours.items():
        _png(root / "apps" / "16" / f"{name}.png", 16, (0, 0, 0))  # the small drawing must not be chosen
        _png(root / "apps" / "64" / f"{name}.png", 64, colour)
    os.symlink(root / "apps" / "64" / f"{next(iter(colours))}.png", root / "apps" / "64" / "an-alias.png")
    _png(root / "actions" / "64" / "go-next-symbolic.png", 64, (0, 0, 0))
    return root


def test_caption_and_design_size() -> None:
    assert caption_of("accessories-calculator") == "accessories calculator"
    assert caption_of("Weather_Few.Clouds") == "weather few clouds"
    assert design_size(Path("apps/64x64/a.png")) == 64
    assert design_size(Path("apps/48@2x/a.png")) == 96
    assert design_size(Path("scalable/apps/a.svg")) == 1024
    assert design_size(Path("apps/a.png")) == 0


def test_sources_take_the_largest_drawing_and_leave_out_aliases_and_glyphs(tmp_path: Path) -> None:
    folder = _theme(tmp_path / "t", {"accessories-calculator": (200, 0, 0), "weather-few-clouds": (0, 0, 200)})
    sources = find_sources("t", folder)
    assert [s.name for s in sources] == ["accessories-calculator", "weather-few-clouds"]
    assert all(s.path.parent.name == "64" for s in sources)


def test_render_png_and_svg_on_white(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", 64, (255, 0, 0))
    small, large = render(tmp_path / "a.png", (16, 32))
    assert small.shape == (16, 16, 3) and large.shape == (32, 32, 3) and small.dtype == np.uint8
    assert (large[0, 0] == 255).all()  # transparent corner -> white
    assert large[16, 16, 0] > 200 and large[16, 16, 1] < 50  # red centre
    pytest.importorskip("cairosvg")
    (tmp_path / "b.svg").write_text(SVG.format(r=16, colour="blue"))
    (svg,) = render(tmp_path / "b.svg", (32,))
    assert svg.shape == (32, 32, 3) and svg[16, 16, 2] > 200 and svg[16, 16, 0] < 50 and (svg[0, 0] == 255).all()


def test_build_writes_folder_datasets_deduplicated_and_split_by_caption(tmp_path: Path) -> None:
    names = {f"icon-{k}": (20 * k, 255 - 20 * k, 90) for k in range(12)}
    first = _theme(tmp_path / "one", names)
    second = _theme(tmp_path / "two", {"icon-0": (20 * 0, 255, 90), "other-thing": (10, 10, 10)})  # icon-0: same
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "apps").mkdir()
    (tmp_path / "broken" / "apps" / "bad.png").write_bytes(b"not a png")
    summary = build_icon_set(
        tmp_path / "out",
        themes=["one", "two", "broken"],
        sizes=(16, 32),
        validation_fraction=0.3,
        workers=1,
        theme_folders={"one": first, "two": second, "broken": tmp_path / "broken"},
    )
    assert summary["images"] == 13 and summary["duplicates_dropped"] == 1  # two/icon-0 draws one/icon-0 again
    assert list(summary["skipped"]) == [str(tmp_path / "broken" / "apps" / "bad.png")]
    for size in (16, 32):
        index = (tmp_path / "out" / f"{size}px" / "captions.jsonl").read_text()
        rows = [json.loads(line) for line in index.splitlines()]
        assert len(rows) == 13
        for row in rows:
            assert row["split"] == ("validation" if hash_fraction(row["caption"]) < 0.3 else "train")
            assert Image.open(tmp_path / "out" / f"{size}px" / row["file"]).size == (size, size)
    assert summary["train"] + summary["validation"] == 13 and summary["validation"] > 0
    assert Image.open(tmp_path / "out" / "contact_sheet.png").size[0] > 32
    # the folder is a genkit dataset as it stands
    data = genkit.make_params("dataset", "folder", {"path": str(tmp_path / "out" / "32px"), "size": 32})
    dataset = genkit.build_component("dataset", data, genkit.BuildContext())
    assert len(dataset.split("train")) == summary["train"]


def test_unknown_theme_and_bad_sizes_name_themselves(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown theme 'nope'"):
        build_icon_set(tmp_path, themes=["nope"])
    with pytest.raises(InputError, match="sizes must be 8 px or more"):
        build_icon_set(tmp_path, themes=["x"], sizes=(4,), theme_folders={"x": tmp_path})


def test_unpack_theme_reads_a_package_from_the_cache(tmp_path: Path) -> None:
    """A .deb already in the cache is unpacked with dpkg-deb (no download): the real packaging path."""
    if not Path("/usr/bin/dpkg-deb").exists():
        pytest.skip("dpkg-deb is not installed")
    from genkit.data.icon_themes import Theme

    package = tmp_path / "pkg"
    _theme(package / "usr" / "share" / "icons" / "Mine", {"a-b": (1, 2, 3)})
    (package / "DEBIAN").mkdir()
    (package / "DEBIAN" / "control").write_text(
        "Package: mine-icon-theme\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n"
    )
    debs = tmp_path / "cache" / "debs"
    debs.mkdir(parents=True)
    subprocess.run(
        ["dpkg-deb", "--build", str(package), str(debs / "mine-icon-theme_1.0-1_all.deb")],
        check=True,
        capture_output=True,
    )
    folder = unpack_theme(Theme("mine-icon-theme", "Mine"), tmp_path / "cache")
    assert [s.name for s in find_sources("mine", folder)] == ["a-b"]


def test_cli_icons_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    from genkit.cli import main

    assert main(["data", "icons", str(tmp_path), "--sizes", "32,x"]) != 0
    assert capsys.readouterr().err.strip().endswith("--sizes: comma-separated integers, not '32,x'")
    assert main(["data", "icons", str(tmp_path), "--themes", "nope"]) != 0
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .endswith("unknown theme 'nope'; known: adwaita, breeze, elementary, faenza, papirus")
    )

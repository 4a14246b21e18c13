"""The icon set: real pictures people drew, built offline from Debian icon-theme packages.

``build_icon_set(out)`` makes a ``folder`` dataset per size (``out/32px``, ``out/64px``): each theme's icons
rendered on white (PNGs resized with Lanczos, SVGs rendered by cairosvg at the target size), captioned from the
icon's name (``accessories-calculator`` -> ``accessories calculator``), deduplicated and hash-split by caption into
train and validation. How, step by step:

1. Each theme comes from its Debian package: ``apt-get download`` into a cache folder and ``dpkg-deb -x`` (no
   install, no root needed for either), or the installed copy under ``/usr/share/icons`` when apt is not there.
2. One source per icon name and theme: the drawing with the largest design size (``64x64``, ``48@2x``, ``scalable``
   ...), an SVG before a PNG of the same size. Symlinks (aliases of another name), ``-symbolic`` icons (one-colour
   glyphs) and the theme's dark/light variants (other folders) are left out.
3. Deduplicated across themes and sizes: an icon whose rendering at the smallest size is byte-identical to an
   earlier one (sorted by theme, then name) is dropped, whatever its name.
4. Split by caption (:func:`genkit.data.split.hash_fraction`): one name's drawings from every theme land in the
   same split, so validation captions are never seen in training.

``out/icons.json`` records the packages and versions, counts and skipped files; ``out/contact_sheet.png`` shows a
sample. ``genkit data icons OUT`` is the command.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np
from PIL import Image

from genkit.data.preprocess import load_rgb
from genkit.data.split import hash_fraction
from genkit.errors import InputError


@dataclass(frozen=True)
class Theme:
    """An icon theme: the Debian package that ships it and its folder under ``usr/share/icons``."""

    package: str
    folder: str


THEMES: dict[str, Theme] = {
    "adwaita": Theme("adwaita-icon-theme", "Adwaita"),
    "breeze": Theme("breeze-icon-theme", "breeze"),
    "elementary": Theme("elementary-icon-theme", "elementary"),
    "faenza": Theme("faenza-icon-theme", "Faenza"),
    "papirus": Theme("papirus-icon-theme", "Papirus"),
}
DEFAULT_SIZES = (32, 64)
SUFFIXES = (".png", ".svg")
_SIZE_FOLDER = re.compile(r"^(\d+)(?:x\d+)?(?:@(\d)x)?$")


class IconSetSummary(TypedDict):
    """What :func:`build_icon_set` made (also written to ``icons.json``)."""

    images: int
    train: int
    validation: int
    per_theme: dict[str, int]
    duplicates_dropped: int
    skipped: dict[str, str]
    sizes: list[int]
    packages: dict[str, str]
    validation_fraction: float


@dataclass(frozen=True)
class Source:
    """One icon's drawing chosen for the set: its theme, name and file."""

    theme: str
    name: str
    path: Path


def caption_of(name: str) -> str:
    """The caption of an icon name: lower case, words split at ``-``, ``_``, ``.`` and spaces."""
    return " ".join(re.split(r"[-_.\s]+", name.lower())).strip()


def design_size(path: Path) -> int:
    """The size a file was drawn for, from its folders (``64x64`` -> 64, ``48@2x`` -> 96, ``scalable`` -> 1024);
    0 when no folder says."""
    size = 0
    for part in path.parts:
        match = _SIZE_FOLDER.match(part)
        if match:
            size = max(size, int(match.group(1)) * int(match.group(2) or 1))
        elif part.startswith("scalable"):
            size = max(size, 1024)
    return size


def unpack_theme(theme: Theme, cache: Path) -> Path:
    """The theme's folder: from the package's files unpacked under ``cache`` (downloaded with ``apt-get download``
    on first use), else from ``/usr/share/icons``. Raises :class:`InputError` naming the package when neither."""
    unpacked = cache / theme.package
    folder = unpacked / "usr" / "share" / "icons" / theme.folder
    if folder.is_dir():
        return folder
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{theme.package}_*.deb"))
    if not found and shutil.which("apt-get"):
        done = subprocess.run(["apt-get", "download", theme.package], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{theme.package}_*.deb"))
        if not found:
            why = (done.stderr.strip().splitlines() or ["no .deb written"])[-1]
            raise InputError(f"icons: apt-get download {theme.package} failed: {why}")
    if found:
        partial = unpacked.with_name(unpacked.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(partial)], check=True, capture_output=True)
        partial.rename(unpacked)
        if folder.is_dir():
            return folder
    installed = Path("/usr/share/icons") / theme.folder
    if installed.is_dir():
        return installed
    raise InputError(f"icons: no {theme.folder} icons: package {theme.package} could not be downloaded or found")


def package_version(theme: Theme, cache: Path) -> str:
    """The Debian version of the theme's package in ``cache`` ("installed" for a system copy)."""
    found = sorted((cache / "debs").glob(f"{theme.package}_*.deb"))
    return found[-1].name.split("_")[1].replace("%3a", ":") if found else "installed"


def find_sources(theme: str, folder: Path) -> list[Source]:
    """One :class:`Source` per icon name in ``folder``: the largest design size, SVG before PNG; symlinks and
    ``-symbolic`` icons left out. Sorted by name."""
    best: dict[str, tuple[tuple[int, int], Path]] = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for file in sorted(files):
            path = Path(root) / file
            if path.suffix not in SUFFIXES or path.is_symlink() or "symbolic" in path.stem:
                continue
            rank = (design_size(path.relative_to(folder)), path.suffix == ".svg")
            if path.stem not in best or rank > best[path.stem][0]:
                best[path.stem] = (rank, path)
    return [Source(theme, name, path) for name, (_, path) in sorted(best.items())]


def _square_on_white(image: Image.Image) -> Image.Image:
    side = max(image.size)
    if image.size == (side, side):
        return image
    canvas = Image.new("RGB", (side, side), (255, 255, 255))
    canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
    return canvas


def render(path: Path, sizes: Sequence[int]) -> list[np.ndarray]:
    """``uint8[size, size, 3]`` renderings of one icon file on white, one per size: an SVG is rendered by cairosvg
    at each size, a PNG resized with Lanczos. Raises on a file that does not decode."""
    out = []
    for size in sizes:
        if path.suffix == ".svg":
            import cairosvg  # the icons extra: a real SVG renderer on cairo

            png = cairosvg.svg2png(url=str(path), output_width=size, output_height=size)
            image = load_rgb(io.BytesIO(png))
        else:
            image = load_rgb(path)
        image = _square_on_white(image)
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.LANCZOS)
        out.append(np.asarray(image, dtype=np.uint8).copy())
    return out


def _render_or_error(job: tuple[Path, tuple[int, ...]]) -> list[np.ndarray] | str:
    try:
        return render(*job)
    except Exception as error:  # one bad file is skipped and named, not fatal
        return f"{type(error).__name__}: {error}".splitlines()[0][:200]


def _rendered(
    sources: Sequence[Source], sizes: tuple[int, ...], workers: int, progress: Callable[[int, int | None], None] | None
) -> Iterable[tuple[Source, list[np.ndarray] | str]]:
    jobs = [(source.path, sizes) for source in sources]
    if workers <= 1:
        results: Iterable[list[np.ndarray] | str] = map(_render_or_error, jobs)
        for done, (source, result) in enumerate(zip(sources, results, strict=True), 1):
            if progress:
                progress(done, len(sources))
            yield source, result
        return
    with ProcessPoolExecutor(workers) as pool:
        pooled = pool.map(_render_or_error, jobs, chunksize=32)
        for done, (source, result) in enumerate(zip(sources, pooled, strict=True), 1):
            if progress:
                progress(done, len(sources))
            yield source, result


def build_icon_set(
    out: Path,
    themes: Sequence[str] = tuple(THEMES),
    sizes: Sequence[int] = DEFAULT_SIZES,
    cache: Path | None = None,
    validation_fraction: float = 0.05,
    workers: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    theme_folders: dict[str, Path] | None = None,
) -> IconSetSummary:
    """Write the icon set under ``out`` (see the module docstring) and return its summary (also ``icons.json``).

    ``theme_folders`` maps a theme name to an icon folder to read instead of its Debian package (tests, or a theme
    of your own). Raises :class:`InputError` naming an unknown theme or a package that cannot be had."""
    theme_folders = dict(theme_folders or {})
    unknown = [t for t in themes if t not in THEMES and t not in theme_folders]
    if unknown:
        raise InputError(f"icons: unknown theme {unknown[0]!r}; known: {', '.join(THEMES)}")
    sizes = tuple(sorted(set(sizes)))
    if not sizes or min(sizes) < 8:
        raise InputError(f"icons: sizes must be 8 px or more, got {list(sizes)}")
    cache = cache or out / "cache"
    versions = {}
    sources: list[Source] = []
    for theme in themes:
        if theme not in theme_folders:
            theme_folders[theme] = unpack_theme(THEMES[theme], cache)
            versions[theme] = f"{THEMES[theme].package} {package_version(THEMES[theme], cache)}"
        sources += find_sources(theme, theme_folders[theme])
    seen: set[bytes] = set()
    rows: dict[int, list[dict[str, str]]] = {size: [] for size in sizes}
    skipped: dict[str, str] = {}
    duplicates = 0
    workers = workers if workers is not None else min(4, os.cpu_count() or 1)
    for source, result in _rendered(sources, sizes, workers, progress):
        if isinstance(result, str):
            skipped[str(source.path)] = result
            continue
        digest = hashlib.sha1(result[0].tobytes()).digest()
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        caption = caption_of(source.name)
        split = "validation" if hash_fraction(caption) < validation_fraction else "train"
        for size, array in zip(sizes, result, strict=True):
            file = f"{source.theme}/{source.name}.png"
            target = out / f"{size}px" / file
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(target, optimize=False)
            rows[size].append({"file": file, "caption": caption, "split": split, "theme": source.theme})
    for size, items in rows.items():
        with open(out / f"{size}px" / "captions.jsonl", "w", encoding="utf-8") as index:
            index.writelines(json.dumps(item) + "\n" for item in items)
    first = rows[sizes[0]]
    summary: IconSetSummary = {
        "images": len(first),
        "train": sum(item["split"] == "train" for item in first),
        "validation": sum(item["split"] == "validation" for item in first),
        "per_theme": {t: sum(item["theme"] == t for item in first) for t in themes},
        "duplicates_dropped": duplicates,
        "skipped": skipped,
        "sizes": list(sizes),
        "packages": versions,
        "validation_fraction": validation_fraction,
    }
    (out / "icons.json").write_text(json.dumps(summary, indent=2) + "\n")
    if first:
        contact_sheet(out / f"{sizes[-1]}px", first, out / "contact_sheet.png")
    return summary


def contact_sheet(folder: Path, items: Sequence[dict[str, str]], target: Path, count: int = 64, seed: int = 0) -> None:
    """A PNG grid of ``count`` icons of ``folder`` chosen at random (fixed ``seed``), 2 px apart on grey."""
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(items), size=min(count, len(items)), replace=False))
    tiles = [Image.open(folder / items[i]["file"]).convert("RGB") for i in picks]
    side, columns = tiles[0].width, 8
    rows = (len(tiles) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (side + 2) + 2, rows * (side + 2) + 2), (128, 128, 128))
    for k, tile in enumerate(tiles):
        sheet.paste(tile, (2 + (k % columns) * (side + 2), 2 + (k // columns) * (side + 2)))
    sheet.save(target)

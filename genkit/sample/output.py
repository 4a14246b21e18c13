"""Write sampling results: one PNG grid (a row per prompt, best first, score under each), the individual
images, and a JSON file of scores.

Nothing good is ever lost (:func:`check_outputs`, called before anything is drawn or written):

- no output goes inside a genkit export (a folder with ``model_index.json``, e.g. ``RUN/export``) or a
  ``checkpoints`` folder, even with ``force``;
- the grid must be a ``.png``; the grid, the JSON and each image may only replace a previous output of sample
  (each PNG carries the text chunk ``Software: genkit sample``; the JSON is sample's, naming the grid; files it
  lists count as sample's too, for outputs written before the marker) unless ``force``;
- a folder where a file goes (or a file where the images folder goes) is an error, even with ``force``.

Every file is written beside its final name and renamed into place, the JSON last.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image, PngImagePlugin

from genkit.errors import GenkitError, InputError
from genkit.export import INDEX
from genkit.images import image_grid, tensor_to_pil
from genkit.sample.pipeline import PromptSamples

MARKER_KEY = "Software"
MARKER = "genkit sample"
PROTECTED_DIR = "checkpoints"


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "prompt"


def image_name(position: int, prompt: str, rank: int) -> str:
    """The file name of prompt ``position``'s kept image ``rank`` in the images folder."""
    return f"{position:02d}_{slug(prompt)}_{rank}.png"


def planned_images(prompts: Sequence[str], keep: int) -> list[str]:
    """The image file names sample writes for ``prompts`` with ``keep`` kept each."""
    return [image_name(p, prompt, rank) for p, prompt in enumerate(prompts) for rank in range(keep)]


def output_paths(grid_path: str | Path) -> tuple[Path, Path, Path]:
    """``(grid PNG, images folder, scores JSON)`` for a grid path."""
    grid_path = Path(grid_path)
    return grid_path, grid_path.with_suffix(""), grid_path.with_suffix(".json")


def is_sample_png(path: Path) -> bool:
    """Whether ``path`` is a PNG that genkit sample wrote (its text chunk ``Software: genkit sample``)."""
    try:
        with Image.open(path) as image:
            return image.format == "PNG" and bool(image.info.get(MARKER_KEY) == MARKER)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def sample_json(path: Path, grid_name: str) -> dict[str, Any] | None:
    """The scores JSON at ``path`` when genkit sample wrote it for a grid called ``grid_name``, else ``None``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("grid") == grid_name and isinstance(data.get("prompts"), list):
        return data
    return None


def _listed_files(data: dict[str, Any] | None) -> set[str]:
    """The images (``folder/name``) a previous scores JSON lists."""
    if data is None:
        return set()
    return {
        str(kept.get("file"))
        for entry in data["prompts"]
        if isinstance(entry, dict)
        for kept in entry.get("kept") or []
        if isinstance(kept, dict)
    }


def protected_reason(path: Path, run_dir: str | Path | None = None) -> str | None:
    """Why nothing may be written at ``path`` (inside an export or a checkpoints folder), or ``None``."""
    resolved = Path(path).resolve()  # links followed: a link into an export is inside it
    places = [resolved, *resolved.parents]
    if run_dir is not None:
        export = (Path(run_dir) / "export").resolve()
        if export in places:
            return f"inside the run's export folder {export}"
    for place in places:
        if place.name == PROTECTED_DIR:
            return f"inside a {PROTECTED_DIR} folder ({place})"
        if (place / INDEX).is_file():
            return f"inside a genkit export ({place} has {INDEX})"
    return None


def check_outputs(
    grid_path: str | Path,
    images: Iterable[str],
    *,
    run_dir: str | Path | None = None,
    force: bool = False,
    option: str | None = None,
) -> None:
    """Raise a one-line :class:`InputError` (nothing written) when sample may not write ``grid_path``, its images
    folder (``images``: the file names in it) and its scores JSON; see the module's docstring for the rules.
    ``option`` (``"--out"``) prefixes messages about the grid path itself."""
    grid, folder, scores = output_paths(grid_path)
    label = f"{option} {grid}" if option else str(grid)
    if grid.is_dir():
        raise InputError(f"{label}: is a directory; give the PNG file to write, e.g. {grid / 'samples.png'}")
    for path in (grid, folder, scores):
        reason = protected_reason(path, run_dir)
        if reason is not None:
            what = label if path == grid else f"{label}: {path}"
            raise InputError(f"{what}: refusing to write {reason}; genkit sample never writes there, even with --force")
    if grid.suffix.lower() != ".png":
        raise InputError(f"{label}: the grid is a PNG file; give a name ending in .png")
    parent = next((p for p in grid.parents if p.exists() or p.is_symlink()), None)
    if parent is not None and not parent.is_dir():
        raise InputError(f"{label}: {parent} is not a directory")
    if folder.exists() and not folder.is_dir():
        raise InputError(
            f"{label}: {folder} is not a directory, and the images go in a folder there; rename it "
            f"or pick another --out"
        )
    previous = sample_json(scores, grid.name)
    listed = _listed_files(previous)
    targets = [(grid, previous is not None)]
    targets += [(folder / name, f"{folder.name}/{name}" in listed) for name in images]
    for path, was_listed in targets:
        if path.is_dir():
            raise InputError(f"{label}: {path} is a directory where sample writes a PNG")
        if path.exists() and not force and not (was_listed or is_sample_png(path)):
            raise InputError(
                f"{path}: exists and was not written by genkit sample; not overwriting it "
                f"(use --force to replace it, or pick another --out)"
            )
    if scores.is_dir():
        raise InputError(f"{label}: {scores} is a directory where sample writes its scores JSON")
    if scores.exists() and not force and previous is None:
        raise InputError(
            f"{scores}: exists and is not genkit sample's scores JSON for {grid.name}; not "
            f"overwriting it (use --force to replace it, or pick another --out)"
        )


def _marked() -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text(MARKER_KEY, MARKER)
    return info


def _write(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GenkitError(f"{path}: cannot write it: {exc.strerror or exc}") from None


def write_samples(
    results: Sequence[PromptSamples],
    grid_path: str | Path,
    settings: dict[str, Any],
    scale: int = 4,
    *,
    force: bool = False,
    run_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Write ``grid_path`` (PNG), ``<stem>/NN_slug_rank.png`` files and ``<stem>.json``; return the JSON data.

    Refuses (one-line :class:`InputError`, nothing written) what :func:`check_outputs` refuses; ``force`` allows
    replacing files genkit sample did not write. ``run_dir``: the run sampled from (its export is protected).
    """
    if not results:
        raise InputError("write_samples: no results to write")
    grid_path, folder, scores_path = output_paths(grid_path)
    names = [
        [image_name(p, result.prompt, rank) for rank in range(len(result.indices))] for p, result in enumerate(results)
    ]
    check_outputs(grid_path, [name for row in names for name in row], run_dir=run_dir, force=force)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenkitError(f"{folder}: cannot create it: {exc.strerror or exc}") from None
    keep = max(len(r.indices) for r in results)
    tiles, labels, entries = [], [], []
    for p, result in enumerate(results):
        kept = []
        for rank in range(keep):
            if rank < len(result.indices):
                image = result.images[rank]
                score = None if result.scores is None else result.scores[rank]
                name = names[p][rank]

                def save_image(tmp: Path, image: torch.Tensor = image) -> None:
                    tensor_to_pil(image).save(tmp, format="PNG", pnginfo=_marked())

                _write(folder / name, save_image)
                kept.append(
                    {"rank": rank, "file": f"{folder.name}/{name}", "score": score, "candidate": result.indices[rank]}
                )
                score_text = "" if score is None else f" {score:.3f}"
                labels.append(f"{result.prompt}\n#1{score_text}" if rank == 0 else f"#{rank + 1}{score_text}")
                tiles.append(image)
            else:
                tiles.append(torch.ones_like(result.images[0]))
                labels.append("")
        entries.append({"prompt": result.prompt, "candidates": result.candidates, "kept": kept})
    grid = image_grid(torch.stack(tiles).clamp(0, 1), nrow=keep, labels=labels, scale=scale)
    _write(grid_path, lambda tmp: grid.save(tmp, format="PNG", pnginfo=_marked()))
    data = {"grid": grid_path.name, "settings": settings, "prompts": entries}
    _write(scores_path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8"))
    return data

"""Judge an image against the ground truth of a ``shapes`` item, by pixel analysis (no model).

:func:`detect_shapes` finds the coloured blobs of an image: each pixel is read as the white background
blended with a named colour (the colour whose blend line passes nearest) and counts as paint when that colour
covers more than half of it; each colour with enough pixels is one detected shape, whose
class comes from how it fills its bounding box (square ~1, circle ~pi/4, triangle and diamond ~1/2; a triangle is
widest at the bottom, a diamond in the middle) and whose position is the third of the image holding its centre.
:func:`judge_image` compares the detections with ``meta["shapes"]`` (see :mod:`genkit.data.shapes`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from genkit.data.shapes_palette import BACKGROUND, COLORS, POSITION_PHRASES, cell_of

_MIN_PIXELS_FRACTION = 0.015  # a colour must cover this share of the image to count as a shape


def _as_array(image: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().float().cpu().numpy()
    array = np.asarray(image, dtype=np.float32)
    if array.ndim != 3 or array.shape[0] != 3:
        raise ValueError(f"expected an image [3, H, W] in [0, 1], got shape {array.shape}")
    channels_last: np.ndarray = array.transpose(1, 2, 0)  # numpy types transpose() as Any
    return channels_last


def classify_mask(mask: np.ndarray) -> str:
    """The shape class of a boolean blob mask ``[H, W]`` (see the module docstring)."""
    rows, cols = np.nonzero(mask)
    top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
    box = mask[top : bottom + 1, left : right + 1]
    fill = box.mean()
    if fill > 0.88:
        return "square"
    if fill > 0.66:
        return "circle"
    widths = box.sum(axis=1)
    widest = float(np.argmax(widths)) / max(1, box.shape[0] - 1)  # 0 = top row, 1 = bottom row
    return "triangle" if widest > 0.7 else "diamond"


def detect_shapes(image: torch.Tensor | np.ndarray) -> list[dict[str, Any]]:
    """Coloured blobs in ``image`` (``float[3, H, W]`` in ``[0, 1]``), largest first.

    Each: ``{"color", "shape", "position", "center": [x, y] (fractions), "pixels": share of the image}``.
    """
    pixels = _as_array(image)
    h, w, _ = pixels.shape
    names = list(COLORS)
    white = np.array(BACKGROUND, dtype=np.float32)
    directions = np.array([COLORS[n] for n in names], dtype=np.float32) - white  # [K, 3]
    offset = pixels - white  # [H, W, 3]
    # each pixel as background + alpha * (colour - background): alpha per colour, and how far off that line it is
    alpha = np.clip(offset @ directions.T / (directions**2).sum(-1), 0, 1)  # [H, W, K]
    residual = np.linalg.norm(offset[:, :, None, :] - alpha[..., None] * directions, axis=-1)
    best = residual.argmin(axis=-1)
    coverage = np.take_along_axis(alpha, best[..., None], axis=-1)[..., 0]
    found = []
    for k, name in enumerate(names):
        mask = (best == k) & (coverage > 0.5)
        share = float(mask.mean())
        if share < _MIN_PIXELS_FRACTION:
            continue
        rows, cols = np.nonzero(mask)
        cx, cy = (cols.min() + cols.max() + 1) / (2 * w), (rows.min() + rows.max() + 1) / (2 * h)
        extent = max((cols.max() - cols.min() + 1) / w, (rows.max() - rows.min() + 1) / h)
        found.append(
            {
                "color": name,
                "shape": classify_mask(mask),
                "position": cell_of(cx, cy),
                "center": [round(float(cx), 4), round(float(cy), 4)],
                "extent": round(float(extent), 4),
                "pixels": share,
            }
        )
    return sorted(found, key=lambda d: -d["pixels"])


def judge_image(image: torch.Tensor | np.ndarray, meta: dict[str, Any], caption: str | None = None) -> dict[str, Any]:
    """How faithfully ``image`` shows the ground truth ``meta`` (a ``shapes`` item's ``Example.meta``).

    Returns fractions over the true shapes: ``color`` (a blob of that colour exists), ``shape`` (that blob has the
    right class), ``position`` (its centre is in the right third), ``size`` (its bounding box side is nearer the
    shape's size than any other size of ``meta["sizes"]``; without that table, within 0.1 of the true extent),
    ``count`` (1.0 when the number of blobs equals the number of shapes), and ``all`` (1.0 only when every
    check passes). With ``caption``, position and size count only for the shapes whose caption says them (the
    phrase "at the top left", the size word); when it says neither for any shape, that key is ``None``.
    """
    truth = meta.get("shapes") or []
    if not truth:
        raise ValueError("meta has no 'shapes' ground truth")
    detected = {d["color"]: d for d in detect_shapes(image)}
    sizes = meta.get("sizes")
    words = f" {caption} " if caption is not None else None
    hits = {"color": 0.0, "shape": 0.0, "position": 0.0, "size": 0.0}
    said = {"position": 0, "size": 0}
    for item in truth:
        says_position = words is None or f" {POSITION_PHRASES[item['position']]} " in words
        says_size = words is None or f" {item['size']} " in words
        said["position"] += says_position
        said["size"] += says_size
        blob = detected.get(item["color"])
        if blob is None:
            continue
        hits["color"] += 1
        hits["shape"] += float(blob["shape"] == item["shape"])
        hits["position"] += says_position and blob["position"] == item["position"]
        hits["size"] += says_size and _size_matches(blob["extent"], item, sizes)
    n = len(truth)
    scores: dict[str, Any] = {"color": hits["color"] / n, "shape": hits["shape"] / n}
    for key in ("position", "size"):
        scores[key] = hits[key] / said[key] if said[key] else None
    scores["count"] = float(len(detected) == n)
    scores["all"] = float(all(v == 1.0 for v in scores.values() if v is not None))
    return scores


def _size_matches(extent: float, item: dict[str, Any], sizes: dict[str, float] | None) -> bool:
    if not sizes:
        close: bool = abs(extent - item["extent"]) <= 0.1
        return close
    nearest = min(sizes, key=lambda word: abs(extent - sizes[word]))
    same: bool = nearest == item["size"]
    return same


class ShapesJudge:
    """The ``shapes`` data's :class:`genkit.Judge` (``genkit_select_judge``): :func:`judge_image`, where an image is
    faithful when every object of the caption has the right colour and shape."""

    def judges(self, example: Any) -> bool:
        return bool(example.meta.get("shapes"))

    def judge(self, image: torch.Tensor, example: Any) -> dict[str, float | None]:
        scores = judge_image(image, example.meta, example.caption)
        faithful = float(scores["color"] == 1.0 and scores["shape"] == 1.0)
        return {"faithful": faithful, **{key: scores[key] for key in ATTRIBUTES}}


#: The attributes :func:`judge_image` scores, in report order (``all``: every stated attribute right).
ATTRIBUTES = ("color", "shape", "position", "size", "count", "all")

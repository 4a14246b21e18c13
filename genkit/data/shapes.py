"""The ``shapes`` dataset: synthetic images of one or two coloured shapes with template captions.

Deterministic: item ``i`` of a split depends only on ``(seed, split, i)``. Images are drawn with Pillow at 4x and
box-filtered down (anti-aliased), cached in memory as ``uint8`` once drawn. Each ``Example.meta`` holds the ground
truth: ``{"shapes": [{"shape", "color", "size", "position", "center": [x, y], "extent"}], "sizes": {word: extent}}``
with ``center``/``extent`` as fractions of the image side, so that generated images can be judged later
(:mod:`genkit.data.shapes_judge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from pydantic import Field, field_validator, model_validator

from genkit.data.shapes_palette import BACKGROUND, COLORS, POSITION_PHRASES, POSITIONS, SHAPES, SIZES
from genkit.errors import InputError
from genkit.plugins.context import BuildContext
from genkit.plugins.params import Params
from genkit.roles.dataset import Example

_SUPERSAMPLE = 4
_SPLIT_STREAM = {"train": 0, "validation": 1}


class ShapesParams(Params):
    """Synthetic images of coloured shapes with captions (the demo's and the tests' data)."""

    size: int = Field(32, ge=16, description="Side of the square images, in pixels.")
    count: int = Field(20000, ge=1, description="Number of training items.")
    validation_count: int = Field(256, ge=1, description="Number of validation items (a separate, fixed stream).")
    seed: int = Field(0, description="Seed of the generator: same seed, same images and captions.")
    max_shapes: int = Field(2, ge=1, le=2, description="Most shapes per image (1 or 2).")
    shapes: tuple[str, ...] = Field(SHAPES, description=f"Shape classes drawn from: {', '.join(SHAPES)}.")
    colors: tuple[str, ...] = Field(tuple(COLORS), description=f"Colours drawn from: {', '.join(COLORS)}.")
    sizes: dict[str, float] = Field(
        default_factory=lambda: dict(SIZES),
        description=(
            "Size words of the captions -> side (or diameter) of the shape as a fraction of the image side "
            f"(default {', '.join(f'{k} {v}' for k, v in SIZES.items())}); a pair of shapes is drawn at the smallest."
        ),
    )

    held_out: int = Field(
        0,
        ge=0,
        le=4,
        description=(
            "Held-out combinations: for each (colour, shape) pair, this many of the 9 positions never appear in the "
            "training split (neither drawn nor captioned). Every validation item is one of these unseen "
            "combinations and its caption names the position, so no validation caption occurs in training. "
            "0: both splits come from the same distribution. Needs max_shapes 1."
        ),
    )

    @model_validator(mode="after")
    def _held_out_needs_one_shape(self) -> ShapesParams:
        if self.held_out and self.max_shapes != 1:
            raise ValueError("held_out needs max_shapes: 1 (two-shape captions do not name positions)")
        return self

    @field_validator("shapes")
    @classmethod
    def _known_shapes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _known("shapes", value, SHAPES)

    @field_validator("colors")
    @classmethod
    def _known_colors(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        value = _known("colors", value, tuple(COLORS))
        return value

    @field_validator("sizes")
    @classmethod
    def _valid_sizes(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("sizes must name at least one size, e.g. {small: 0.3, large: 0.5}")
        for word, extent in value.items():
            if not word.isalpha():
                raise ValueError(f"size word {word!r} must be a single word of letters (it appears in captions)")
            if not 0.1 <= extent <= 0.9:
                raise ValueError(f"size {word!r}: {extent} must be between 0.1 and 0.9 of the image side")
        return value


def _known(key: str, value: tuple[str, ...], allowed: Sequence[str]) -> tuple[str, ...]:
    unknown = [v for v in value if v not in allowed]
    if unknown or not value:
        raise ValueError(
            f"{key} must be a non-empty subset of {', '.join(allowed)} (got {', '.join(unknown) or 'none'})"
        )
    return tuple(value)


def describe_shape(item: dict[str, Any], rng: np.random.Generator, name_position: bool = False) -> str:
    """One shape as a caption phrase; which attributes are mentioned varies (colour and shape always are, the
    position too with ``name_position``)."""
    size = f"{item['size']} " if rng.random() < 0.5 else ""
    where = f" {POSITION_PHRASES[item['position']]}" if rng.random() < 0.6 or name_position else ""
    return f"a {size}{item['color']} {item['shape']}{where}"


def caption_for(items: list[dict[str, Any]], rng: np.random.Generator, name_position: bool = False) -> str:
    """A template caption for one or two shapes ("a small red circle at the top left", "a blue square")."""
    if len(items) == 1:
        return describe_shape(items[0], rng, name_position)
    a, b = items
    (ax, ay), (bx, by) = POSITIONS[a["position"]], POSITIONS[b["position"]]
    style = rng.integers(3)
    if style == 0 and ax != bx:
        left, right = (a, b) if ax < bx else (b, a)
        return f"a {left['color']} {left['shape']} to the left of a {right['color']} {right['shape']}"
    if style == 1 and ay != by:
        top, bottom = (a, b) if ay < by else (b, a)
        return f"a {top['color']} {top['shape']} above a {bottom['color']} {bottom['shape']}"
    return f"{describe_shape(a, rng)} and {describe_shape(b, rng)}"


def held_out_positions(params: ShapesParams) -> dict[tuple[str, str], tuple[str, ...]]:
    """``(colour, shape) -> positions`` kept out of the training split (``params.held_out`` of them per pair).

    Colour ``c`` and shape ``s`` (indices in ``params.colors``/``params.shapes``) hold out positions
    ``c + 2 s + seed + j (mod 9)``, ``j < held_out``, in the raster order of :data:`POSITIONS`: the shapes of one
    colour hold out different positions, so with the default palette every (colour, shape), (colour, position) and
    (shape, position) pair still occurs in training; only the triples are new in validation.
    """
    names = list(POSITIONS)
    return {
        (color, shape): tuple(names[(c + 2 * s + params.seed + j) % len(names)] for j in range(params.held_out))
        for c, color in enumerate(params.colors)
        for s, shape in enumerate(params.shapes)
    }


class ShapesDataset:
    """See the module docstring."""

    in_memory = True  # items are drawn once and cached: DataLoader workers would only copy them

    def __init__(self, params: ShapesParams):
        self.params = params
        self.image_size = params.size
        self.skipped: list[tuple[str, str]] = []
        self._splits: dict[str, ShapesSplit] = {}

    def split(self, name: str) -> ShapesSplit:
        if name not in _SPLIT_STREAM:
            raise InputError(f"unknown split {name!r}; splits are: train, validation")
        if name not in self._splits:
            count = self.params.count if name == "train" else self.params.validation_count
            self._splits[name] = ShapesSplit(self.params, name, count)
        return self._splits[name]

    def captions(self, name: str) -> list[str]:
        return self.split(name).captions()


class ShapesSplit(Sequence[Example]):
    """One split; items are generated on first access and cached (``uint8``)."""

    def __init__(self, params: ShapesParams, name: str, count: int):
        # ``length``, not ``count``: that would hide Sequence.count(value)
        self.params, self.name, self.length = params, name, count
        self._images: dict[int, np.ndarray] = {}
        self._described: dict[int, tuple[str, dict[str, Any]]] = {}
        self._held_out = held_out_positions(params) if params.held_out else {}

    def __len__(self) -> int:
        return self.length

    def _rng(self, index: int, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.params.seed, _SPLIT_STREAM[self.name], index, stream])

    def describe(self, index: int) -> tuple[str, dict[str, Any]]:
        """``(caption, meta)`` of item ``index``, without drawing it."""
        if index not in self._described:
            rng = self._rng(index, 0)
            items = self._layout(rng)
            unseen = bool(self._held_out) and self.name != "train"  # held-out items always say where they are
            caption = caption_for(items, self._rng(index, 1), name_position=unseen)
            self._described[index] = (caption, {"shapes": items})
        return self._described[index]

    def _layout(self, rng: np.random.Generator) -> list[dict[str, Any]]:
        p = self.params
        n = 1 if p.max_shapes == 1 else int(rng.integers(1, 3))
        colors = list(rng.choice(len(p.colors), size=n, replace=False)) if n <= len(p.colors) else [0] * n
        cells = list(POSITIONS)
        shapes = None
        if self._held_out:  # colour and shape first, then a position that this split may show for them
            color, shape = p.colors[int(colors[0])], p.shapes[int(rng.integers(len(p.shapes)))]
            held = self._held_out[(color, shape)]
            allowed = [c for c in cells if (c in held) == (self.name != "train")]
            chosen, shapes = [allowed[int(rng.integers(len(allowed)))]], [shape]
            sizes = [list(p.sizes)[int(rng.integers(len(p.sizes)))]]
        elif n == 1:
            chosen = [cells[int(rng.integers(len(cells)))]]
            sizes = [list(p.sizes)[int(rng.integers(len(p.sizes)))]]
        else:  # two shapes of the smallest size in cells two apart on some axis: they never touch
            pairs = [
                (a, b)
                for a in cells
                for b in cells
                if a < b and max(abs(POSITIONS[a][0] - POSITIONS[b][0]), abs(POSITIONS[a][1] - POSITIONS[b][1])) == 2
            ]
            chosen = list(pairs[int(rng.integers(len(pairs)))])
            smallest = min(p.sizes, key=p.sizes.__getitem__)
            sizes = [smallest, smallest]
        items = []
        for k in range(n):
            extent = p.sizes[sizes[k]] * float(rng.uniform(0.9, 1.1))
            column, row = POSITIONS[chosen[k]]
            half = extent / 2
            # centre of the cell, pulled inwards so the shape stays inside the image
            cx = _place(column, half, float(rng.uniform(-0.03, 0.03)))
            cy = _place(row, half, float(rng.uniform(-0.03, 0.03)))
            items.append(
                {
                    "shape": shapes[k] if shapes else p.shapes[int(rng.integers(len(p.shapes)))],
                    "color": p.colors[int(colors[k])],
                    "size": sizes[k],
                    "position": chosen[k],
                    "center": [round(cx, 4), round(cy, 4)],
                    "extent": round(extent, 4),
                }
            )
        return items

    def captions(self) -> list[str]:
        """The captions of every item, in order (no image is drawn)."""
        return [self.describe(i)[0] for i in range(self.length)]

    def image(self, index: int) -> np.ndarray:
        """``uint8[S, S, 3]`` of item ``index`` (drawn once, then cached)."""
        if index not in self._images:
            self._images[index] = draw_shapes(self.describe(index)[1]["shapes"], self.params.size)
        return self._images[index]

    def __getitem__(self, index: int) -> Example:  # type: ignore[override]
        if not -self.length <= index < self.length:
            raise IndexError(index)
        index %= self.length
        caption, meta = self.describe(index)
        image = torch.from_numpy(self.image(index)).permute(2, 0, 1).float().div_(255.0)
        return Example(image, caption, {"shapes": [dict(s) for s in meta["shapes"]], "sizes": dict(self.params.sizes)})


def _place(cell: int, half: float, jitter: float) -> float:
    centre = (cell + 0.5) / 3
    return min(max(centre + jitter, half + 0.02), 1 - half - 0.02)


def draw_shapes(items: list[dict[str, Any]], size: int) -> np.ndarray:
    """Draw ``items`` (as in ``meta["shapes"]``) on the background: ``uint8[size, size, 3]``, anti-aliased."""
    big = size * _SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), tuple(round(c * 255) for c in BACKGROUND))
    draw = ImageDraw.Draw(canvas)
    for item in items:
        fill = tuple(round(c * 255) for c in COLORS[item["color"]])
        cx, cy = item["center"][0] * big, item["center"][1] * big
        h = item["extent"] * big / 2
        if item["shape"] == "circle":
            draw.ellipse([cx - h, cy - h, cx + h, cy + h], fill=fill)
        elif item["shape"] == "square":
            draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=fill)
        elif item["shape"] == "triangle":
            draw.polygon([(cx, cy - h), (cx + h, cy + h), (cx - h, cy + h)], fill=fill)
        elif item["shape"] == "diamond":
            draw.polygon([(cx, cy - h), (cx + h, cy), (cx, cy + h), (cx - h, cy)], fill=fill)
        else:
            raise InputError(f"unknown shape {item['shape']!r}; shapes are: {', '.join(SHAPES)}")
    # typed: numpy types copy() as Any
    pixels: np.ndarray = np.asarray(canvas.resize((size, size), Image.Resampling.BOX), dtype=np.uint8).copy()
    return pixels


def build_shapes(params: ShapesParams, context: BuildContext) -> ShapesDataset:
    return ShapesDataset(params)

"""The vocabulary of the synthetic ``shapes`` data: named colours, shapes, sizes and positions.

Shared by the generator (:mod:`genkit.data.shapes`) and the judge (:mod:`genkit.data.shapes_judge`).
"""

from __future__ import annotations

#: Named colours, far apart in RGB (values in [0, 1]) and from the white background.
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.08, 0.08),
    "green": (0.08, 0.62, 0.16),
    "blue": (0.10, 0.22, 0.90),
    "yellow": (0.96, 0.84, 0.06),
    "purple": (0.56, 0.16, 0.70),
    "cyan": (0.06, 0.78, 0.86),
}
BACKGROUND = (1.0, 1.0, 1.0)

SHAPES = ("circle", "square", "triangle", "diamond")

#: Side (or diameter) of a shape as a fraction of the image side.
SIZES: dict[str, float] = {"small": 0.30, "large": 0.50}

#: 3x3 grid of named positions: name -> (column, row) in {0, 1, 2}.
POSITIONS: dict[str, tuple[int, int]] = {
    "top left": (0, 0),
    "top": (1, 0),
    "top right": (2, 0),
    "left": (0, 1),
    "center": (1, 1),
    "right": (2, 1),
    "bottom left": (0, 2),
    "bottom": (1, 2),
    "bottom right": (2, 2),
}

#: How a caption says a position ("at the top left", "in the center", "on the left").
POSITION_PHRASES: dict[str, str] = {
    "top left": "at the top left",
    "top": "at the top",
    "top right": "at the top right",
    "left": "on the left",
    "center": "in the center",
    "right": "on the right",
    "bottom left": "at the bottom left",
    "bottom": "at the bottom",
    "bottom right": "at the bottom right",
}


def cell_of(x: float, y: float) -> str:
    """The named position of a point given as fractions of the image side (thirds of the image)."""
    column, row = min(2, max(0, int(x * 3))), min(2, max(0, int(y * 3)))
    return next(name for name, cell in POSITIONS.items() if cell == (column, row))

"""Image-caption datasets (``folder``, ``shapes``), preprocessing, and the shapes judge."""

from genkit.data.folder import FolderDataset, FolderParams
from genkit.data.shapes import ShapesDataset, ShapesParams, draw_shapes
from genkit.data.shapes_judge import detect_shapes, judge_image

__all__ = [
    "FolderDataset",
    "FolderParams",
    "ShapesDataset",
    "ShapesParams",
    "detect_shapes",
    "draw_shapes",
    "judge_image",
]

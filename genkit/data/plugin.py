"""Built-in plugin: the ``folder``, ``shapes`` and ``webdataset`` datasets (role ``dataset``), and the judge of the
``shapes`` data for ``genkit eval`` (``genkit_select_judge``)."""

from __future__ import annotations

from typing import Any

from genkit.data.folder import FolderParams, build_folder
from genkit.data.shapes import ShapesParams, build_shapes
from genkit.data.shapes_judge import ShapesJudge
from genkit.data.webdataset import WebDatasetParams, build_webdataset
from genkit.plugins.hookspecs import hookimpl


@hookimpl
def genkit_register_components(register: Any) -> None:
    register(
        "dataset",
        "folder",
        params=FolderParams,
        build=build_folder,
        description="A directory of images with captions.jsonl (file, caption, optional split).",
    )
    register(
        "dataset",
        "shapes",
        params=ShapesParams,
        build=build_shapes,
        description="Synthetic coloured shapes with template captions and ground truth (demo and tests).",
    )
    register(
        "dataset",
        "webdataset",
        params=WebDatasetParams,
        build=build_webdataset,
        description="Tar shards of image-caption pairs (img2dataset's layout), streamed; for corpora of any size.",
    )


@hookimpl
def genkit_select_judge(data: Any) -> ShapesJudge | None:
    """The shapes data knows what each image shows: its judge checks drawn images by pixel analysis."""
    return ShapesJudge() if getattr(data, "kind", None) == "shapes" else None

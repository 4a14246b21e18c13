"""Built-in plugin: the ``folder`` and ``shapes`` datasets (role ``dataset``)."""

from __future__ import annotations

from genkit.data.folder import FolderParams, build_folder
from genkit.data.shapes import ShapesParams, build_shapes
from genkit.hookspecs import hookimpl


@hookimpl
def genkit_register_components(register) -> None:
    register("dataset", "folder", params=FolderParams, build=build_folder,
             description="A directory of images with captions.jsonl (file, caption, optional split).")
    register("dataset", "shapes", params=ShapesParams, build=build_shapes,
             description="Synthetic coloured shapes with template captions and ground truth (demo and tests).")

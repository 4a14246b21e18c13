"""The ``folder`` dataset: a directory with ``captions.jsonl`` and image files.

Each line of ``captions.jsonl`` is a JSON object with ``file`` (path relative to the directory), ``caption`` and an
optional ``split`` (``train`` or ``validation``); other keys are kept as ``Example.meta``. Images are decoded lazily,
when an item is first read (in DataLoader workers during training), converted to RGB (alpha on white), resized on
the short side and square-cropped (centre for validation, random for training when ``random_crop`` is set); with
``cache`` the resized image is kept in memory for the next epoch. An unreadable image is skipped, counted in
``skipped`` and named in the ``genkit.data`` log, and the next readable item takes its place.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from genkit.data.jsonl import jsonl_objects
from genkit.data.preprocess import UnreadableImage, load_rgb, resize_short_side, square_crop, to_uint8
from genkit.data.split import hash_split
from genkit.errors import InputError
from genkit.plugins.context import BuildContext
from genkit.plugins.params import Params
from genkit.roles.dataset import Example

log = logging.getLogger("genkit.data")

CAPTIONS = "captions.jsonl"
SPLITS = ("train", "validation")
MAX_IMAGE_SIZE = 1 << 14  # 16384 px a side: past any model here (and 768 MB per decoded RGB image)


class FolderParams(Params):
    """A directory of images with a ``captions.jsonl`` index."""

    path: str = Field("", description="Directory holding captions.jsonl and the images (relative paths in it).")
    size: int = Field(
        256, ge=8, le=MAX_IMAGE_SIZE, description="Side of the square images fed to the models, in pixels."
    )
    validation_fraction: float = Field(
        0.05, gt=0, lt=1, description="Share of items hashed into validation when captions.jsonl has no split key."
    )
    random_crop: bool = Field(True, description="Random square crop for training (validation is always centred).")
    cache: bool = Field(
        True,
        description="Keep the resized images in memory after the first load (small sets; then training reads "
        "in the training process by default, since workers would each hold their own copy).",
    )

    def recipe_problems(self, context: BuildContext) -> dict[str, str]:
        if not self.path.strip():
            return {"path": "the folder dataset needs a directory holding captions.jsonl (data.path=DIR)"}
        return {}


class _Record:
    __slots__ = ("file", "caption", "meta")

    def __init__(self, file: str, caption: str, meta: dict[str, Any]):
        self.file, self.caption, self.meta = file, caption, meta


class FolderSplit(Sequence[Example]):
    """The readable items of one split; ``__getitem__`` returns a fresh crop each time (random for training)."""

    def __init__(self, dataset: FolderDataset, name: str, records: list[_Record]):
        self.dataset, self.name, self.records = dataset, name, records
        self._arrays: dict[int, np.ndarray] = {}
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.records)

    def captions(self) -> list[str]:
        """The captions of the readable items, in order (no image is loaded)."""
        return [record.caption for record in self.records]

    def __getitem__(self, index: int) -> Example:  # type: ignore[override]
        random = self.name == "train" and self.dataset.params.random_crop
        return self.example(index, torch.default_generator if random else None)

    def example(self, index: int, generator: torch.Generator | None = None) -> Example:
        """Item ``index``: a random crop drawn from ``generator``, or the centre crop without one. An unreadable
        image is skipped (logged, counted once) and the next readable item is returned in its place."""
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        for offset in range(len(self)):
            candidate = (index + offset) % len(self)
            array = self._array(candidate)
            if array is not None:
                record = self.records[candidate]
                return Example(
                    square_crop(array, self.dataset.image_size, generator), record.caption, dict(record.meta)
                )
        raise InputError(f"{self.dataset.root / CAPTIONS}: the {self.name} split has no readable image")

    def _array(self, index: int) -> np.ndarray | None:
        if index in self._arrays:
            return self._arrays[index]
        if index in self._bad:
            return None
        record = self.records[index]
        try:
            array = self.dataset._load(record)
        except UnreadableImage as exc:
            self._bad.add(index)
            self.dataset.skipped.append((record.file, str(exc)))
            log.warning("genkit data: skipping %s: %s", self.dataset.root / record.file, exc)
            return None
        if self.dataset.params.cache:
            self._arrays[index] = array
        return array


class FolderDataset:
    """Images and captions from a directory (see the module docstring)."""

    def __init__(self, params: FolderParams):
        self.params = params
        self.in_memory = params.cache
        self.image_size = params.size
        self.skipped: list[tuple[str, str]] = []
        self._records: dict[str, list[_Record]] | None = None
        self._splits: dict[str, FolderSplit] = {}

    @property
    def root(self) -> Path:
        if not self.params.path:
            raise InputError("data.path: the folder dataset needs a directory (data.path=DIR)")
        return Path(self.params.path).expanduser()

    # -- index ---------------------------------------------------------------------------------------------
    def _index(self) -> dict[str, list[_Record]]:
        if self._records is not None:
            return self._records
        index_path = self.root / CAPTIONS
        if not index_path.is_file():
            raise InputError(f"{index_path}: no such file (a folder dataset needs {CAPTIONS})")
        records: list[_Record] = []
        split_of: list[str | None] = []
        inside = _Containment(self.root)
        for number, item in jsonl_objects(index_path, index_path.read_text(encoding="utf-8").splitlines()):
            if not isinstance(item.get("file"), str) or not isinstance(item.get("caption"), str):
                raise InputError(f"{index_path}:{number}: each line needs string keys 'file' and 'caption'")
            if not inside(item["file"]):
                raise InputError(
                    f"{index_path}:{number}: file {item['file']!r} is outside the dataset directory {self.root} "
                    "(files are paths relative to it, with no '..', absolute path or link leading out)"
                )
            split = item.get("split")
            if split is not None and split not in SPLITS:
                raise InputError(f"{index_path}:{number}: split {split!r} must be 'train' or 'validation'")
            meta = {k: v for k, v in item.items() if k not in ("file", "caption", "split")}
            records.append(_Record(item["file"], item["caption"], meta))
            split_of.append(split)
        if not records:
            raise InputError(f"{index_path}: no items")
        if "validation" in split_of:
            self._records = {
                "train": [r for r, s in zip(records, split_of, strict=True) if s != "validation"],
                "validation": [r for r, s in zip(records, split_of, strict=True) if s == "validation"],
            }
        else:
            train, validation = hash_split([r.file for r in records], self.params.validation_fraction)
            self._records = {"train": [records[i] for i in train], "validation": [records[i] for i in validation]}
        return self._records

    def _load(self, record: _Record) -> np.ndarray:
        return to_uint8(resize_short_side(load_rgb(self.root / record.file), self.image_size))

    def check(self) -> None:
        """Fail now (one line) when the index is missing or malformed, before any training starts."""
        self._index()

    # -- the Dataset protocol -------------------------------------------------------------------------------
    def captions(self, name: str) -> list[str]:
        return [r.caption for r in self._index()[_check_split(name)]]

    def split(self, name: str) -> FolderSplit:
        name = _check_split(name)
        if name not in self._splits:
            records = self._index()[name]
            if not records:
                raise InputError(f"{self.root / CAPTIONS}: the {name} split has no item")
            self._splits[name] = FolderSplit(self, name, records)
        return self._splits[name]


class _Containment:
    """``inside(file)``: whether ``root / file``, links resolved, stays under ``root`` (and is not ``root`` itself).

    Refuses absolute paths, ``..`` that climbs out, and symlinks (of the file or a folder on its way) that lead
    out; a missing file is judged by its path (it is skipped later as unreadable, like any unreadable image).
    Each folder is resolved once, so a large index costs about one ``lstat`` per line."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.real = os.path.realpath(root)
        self._folders: dict[str, str] = {}

    def __call__(self, file: str) -> bool:
        if not file or "\0" in file or os.path.isabs(file):
            return False
        folder, name = os.path.split(file)
        if name in ("", ".", ".."):
            real = os.path.realpath(os.path.join(self.root, file))
        else:
            if folder not in self._folders:
                self._folders[folder] = os.path.realpath(os.path.join(self.root, folder))
            real = os.path.join(self._folders[folder], name)
            if os.path.islink(real):
                real = os.path.realpath(real)
        return real.startswith(self.real.rstrip(os.sep) + os.sep)


def _check_split(name: str) -> str:
    if name not in SPLITS:
        raise InputError(f"unknown split {name!r}; splits are: train, validation")
    return name


def build_folder(params: FolderParams, context: BuildContext) -> FolderDataset:
    return FolderDataset(params)

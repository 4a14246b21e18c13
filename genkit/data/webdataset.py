"""The ``webdataset`` dataset: image-caption pairs streamed from tar shards (img2dataset's output layout).

``data: {kind: webdataset, shards: "corpus/{00000..00127}.tar"}``. Each shard holds ``KEY.jpg`` (or ``.jpeg``,
``.png``, ``.webp``) with ``KEY.txt`` (the caption) and usually ``KEY.json``; files beside the shards (``.parquet``,
``_stats.json``) are ignored. Nothing holds the corpus in memory: training streams the shards through DataLoader
workers (:mod:`genkit.data.loader`; shard shuffle, a sample shuffle buffer, split by rank and worker, resumable
mid-shard). Validation is either its own shards (``validation_shards``) or the keys whose stable hash falls under
``validation_fraction``; the first ``validation_size`` validation items are decoded once and kept in memory for
the stages' validation and ``genkit eval``.

Bad input never stops a run: a truncated tar, a corrupt image, a sample without caption, a caption that is not
UTF-8 and a shard that vanished mid-run are skipped, counted and named in the ``genkit.data`` log. A pattern that
matches nothing is a one-line error naming the pattern.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from pydantic import Field, field_validator

from genkit.data.preprocess import resize_short_side, square_crop, to_uint8
from genkit.data.shards import BadSample, SkipLog, decode_caption, decode_image, expand_shards, read_shard, sample_name
from genkit.data.split import hash_fraction
from genkit.errors import InputError
from genkit.plugins.context import BuildContext
from genkit.plugins.params import Params
from genkit.roles.dataset import Example

SPLITS = ("train", "validation")
MAX_IMAGE_SIZE = 1 << 14  # as the folder dataset


class WebDatasetParams(Params):
    """Tar shards of image-caption pairs, as written by img2dataset or ``genkit data pack``."""

    shards: str | list[str] = Field(
        "",
        description="Training shards: a directory, a glob (data/*.tar), a brace pattern "
        "(data/{00000..00127}.tar), or a list of these.",
    )
    validation_shards: str | list[str] | None = Field(
        None,
        description="Validation shards (same forms). Default: keys hashed out of the training shards.",
    )
    validation_fraction: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Without validation_shards: share of keys (stable hash) kept out of training for validation.",
    )
    validation_size: int = Field(
        1024,
        ge=1,
        description="Validation items decoded once and kept in memory (stages' validation, genkit eval).",
    )
    caption_key: str = Field(
        "txt",
        description="Where the caption is: an extension (txt) or json:NAME for a key of the .json member.",
    )
    size: int = Field(
        256, ge=8, le=MAX_IMAGE_SIZE, description="Side of the square images fed to the models, in pixels."
    )
    random_crop: bool = Field(True, description="Random square crop for training (validation is always centred).")

    @field_validator("shards", "validation_shards")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, list) and not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError("every entry must be a non-empty path or pattern")
        return value

    def recipe_problems(self, context: BuildContext) -> dict[str, str]:
        problems = {}
        if not _names_shards(self.shards):
            problems["shards"] = "the webdataset dataset needs shards (a directory, a glob or a brace pattern)"
        if self.validation_shards is not None and not _names_shards(self.validation_shards):
            problems["validation_shards"] = (
                "empty: name shards, or leave it out to hash keys out of the training shards"
            )
        return problems


def _names_shards(value: str | list[str]) -> bool:
    return bool(value.strip()) if isinstance(value, str) else bool(value)


class ShardSplit:
    """One split as a :class:`genkit.data.loader.PartSource`: its shards, read in tar order; ``decode`` makes an
    :class:`Example` (random crop for training when asked) or raises :class:`BadSample`."""

    def __init__(self, dataset: WebDataset, name: str, shards: list[str], keep: Any) -> None:
        self.dataset, self.name, self.shards, self.keep = dataset, name, shards, keep

    def parts(self) -> list[str]:
        return list(self.shards)

    def read(self, part: str, skips: SkipLog) -> Iterator[dict[str, Any]]:
        for sample in read_shard(part, skips):
            if self.keep(sample["__key__"]):
                yield sample

    def decode(self, raw: dict[str, Any], generator: torch.Generator | None) -> Example:
        params = self.dataset.params
        caption = decode_caption(raw, params.caption_key)
        image = to_uint8(resize_short_side(decode_image(raw), params.size))
        random = self.name == "train" and params.random_crop
        tensor = square_crop(image, params.size, generator if random else None)
        return Example(tensor, caption, {"key": raw["__key__"], "shard": raw.get("__url__", "")})

    def describe(self, raw: dict[str, Any]) -> str:
        return sample_name(raw)

    def captions(self, skips: SkipLog) -> Iterator[str]:
        """Every caption of the split, in shard order; image members are skipped without being read."""
        ext = self.dataset.params.caption_key
        wanted = ".json" if ext.startswith("json:") else f".{ext}"
        for shard in self.shards:
            for sample in read_shard(shard, skips, select=lambda name: name.endswith(wanted)):
                if not self.keep(sample["__key__"]):
                    continue
                try:
                    yield decode_caption(sample, ext)
                except BadSample as exc:
                    skips.skip(str(exc), sample_name(sample))


class WebDataset:
    """See the module docstring. ``stream(name)`` is what training reads; ``split(name)`` is random access to a
    bounded head of the validation split only."""

    streamed = True

    def __init__(self, params: WebDatasetParams) -> None:
        self.params = params
        self.image_size = params.size
        self.skips = SkipLog()
        self._validation: list[Example] | None = None
        self._streams: dict[str, ShardSplit] = {}

    @property
    def skipped(self) -> dict[str, int]:
        """Samples and shards skipped so far in this process, by reason (each is also named in the log; streamed
        workers count their own)."""
        return dict(self.skips.counts)

    def stream(self, name: str) -> ShardSplit:
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r}; splits are: {', '.join(SPLITS)}")
        if name not in self._streams:
            p = self.params
            if not p.shards:
                raise InputError("data.shards: the webdataset dataset needs shards (data.shards=DIR or a pattern)")
            train = expand_shards(p.shards, "data.shards")
            if p.validation_shards is not None:
                shards = train if name == "train" else expand_shards(p.validation_shards, "data.validation_shards")
                keep = _everything
            else:
                shards = train
                keep = _HashSplit(p.validation_fraction, name == "validation")
            self._streams[name] = ShardSplit(self, name, shards, keep)
        return self._streams[name]

    def check(self) -> None:
        """Fail now (one line) when a shard pattern is empty or matches nothing, before any training starts."""
        self.stream("train")
        if self.params.validation_shards is not None:
            self.stream("validation")

    def split(self, name: str) -> list[Example]:
        """The first ``validation_size`` validation items, decoded once (centre crops)."""
        if name != "validation":
            raise InputError(
                f"data: the webdataset dataset streams its {name} split; only validation is held in memory"
            )
        if self._validation is None:
            source = self.stream("validation")
            items: list[Example] = []
            for shard in source.parts():
                for raw in source.read(shard, self.skips):
                    try:
                        items.append(source.decode(raw, None))
                    except BadSample as exc:
                        self.skips.skip(str(exc), sample_name(raw))
                    if len(items) >= self.params.validation_size:
                        break
                if len(items) >= self.params.validation_size:
                    break
            if not items:
                raise InputError(
                    f"data: no readable validation sample in {', '.join(source.parts()[:3])} "
                    f"({self.skips.summary()} skipped)"
                )
            self._validation = items
        return self._validation

    def captions(self, name: str) -> Iterator[str]:
        return self.stream(name).captions(self.skips)


class _HashSplit:
    """Keeps the keys of one side of a stable hash split (picklable, for DataLoader workers)."""

    def __init__(self, fraction: float, validation: bool) -> None:
        self.fraction, self.validation = fraction, validation

    def __call__(self, key: str) -> bool:
        return (hash_fraction(key) < self.fraction) == self.validation


def _everything(key: str) -> bool:
    return True


def build_webdataset(params: WebDatasetParams, context: BuildContext) -> WebDataset:
    return WebDataset(params)

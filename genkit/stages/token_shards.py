"""Pre-encoded token shards: the frozen autoencoder encodes a split once (argmax codes), the prior streams them.

``RUN/prior/tokens/<digest>/{split}-{part:05d}.safetensors`` holds ``tokens`` (``int16``/``int32[n, views, h, w]``)
with the items' ``captions`` and ``keys`` in its metadata (``items``, one JSON entry); ``{split}.json`` (the
manifest, written last) lists the parts and their counts. ``digest`` identifies the autoencoder export, the data
settings and the views, so a retrained autoencoder or other data never reuses stale tokens.

A part is one source shard for streamed data (webdataset), or ``PART_ITEMS`` consecutive items for random-access
data. Ranks encode the parts ``p % world == rank`` in parallel; each part is written atomically and an existing
part is not encoded again, so an interrupted encoding resumes where it stopped. View 0 of an item is its centre
crop; with ``views: K`` views 1..K-1 are random crops (and mirror images with ``flip``), of which the prior sees
one per visit.

The prior reads the shards back either all at once (:class:`TokenTable`, random access, when they fit in
``MEMORY_BYTES``: the small-data case) or streamed part by part (:class:`TokenParts`, a
:class:`genkit.data.loader.PartSource`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from genkit.data.loader import PartSource, iterate_epoch
from genkit.data.shards import SkipLog
from genkit.distributed.env import barrier
from genkit.roles import Autoencoder
from genkit.stages.common import PipelineState, dataset_stream, role_digest
from genkit.train.metrics import WorkProgress

ENCODE_BATCH = 64
PART_ITEMS = 8192  # a multiple of ENCODE_BATCH: random-access data encodes in the same batches as one pass would
MEMORY_BYTES = 2 << 30


def tokens_dir(state: PipelineState, views: int = 1, flip: bool = False, stage: str = "prior") -> Path:
    data = state.recipe.data.model_dump(mode="json")
    key = json.dumps(
        {"ae": role_digest(state, "autoencoder"), "data": data, "views": views, "flip": flip}, sort_keys=True
    )
    return state.run_dir / stage / "tokens" / hashlib.sha256(key.encode()).hexdigest()[:16]


class _RangeParts:
    """Random-access data as parts of ``PART_ITEMS`` consecutive items (for encoding)."""

    def __init__(self, split: Any) -> None:
        self.split = split

    def parts(self) -> list[str]:
        return [str(start) for start in range(0, len(self.split), PART_ITEMS)]

    def read(self, part: str, skips: SkipLog) -> Iterator[int]:
        start = int(part)
        return iter(range(start, min(len(self.split), start + PART_ITEMS)))

    def decode(self, index: int, generator: torch.Generator | None) -> Any:
        if hasattr(self.split, "example"):
            return self.split.example(index, generator)
        return self.split[index]  # data without crops (e.g. shapes): every view is the image itself

    def describe(self, index: int) -> str:
        return f"item {index}"


def _views(source: Any, raw: Any, part_seed: int, views: int, flip: bool) -> tuple[list[torch.Tensor], Any]:
    """The centre crop of ``raw`` and ``views - 1`` random crops (mirrored at random with ``flip``)."""
    first = source.decode(raw, None)
    images = [first.image]
    for view in range(1, views):
        generator = torch.Generator().manual_seed(part_seed * 1009 + view)
        image = source.decode(raw, generator).image
        if flip and bool(torch.randint(0, 2, (1,), generator=generator)):
            image = image.flip(-1)
        images.append(image)
    return images, first


class _EncodeSource:
    """A split's source whose items are ``(views images, caption, key)``, for encoding one part in order."""

    def __init__(self, source: PartSource, views: int, flip: bool) -> None:
        self.source, self.views, self.flip = source, views, flip

    def parts(self) -> list[str]:
        return self.source.parts()

    def read(self, part: str, skips: SkipLog) -> Iterator[Any]:
        return self.source.read(part, skips)

    def decode(self, raw: Any, generator: torch.Generator | None) -> Any:
        seed = int(torch.randint(0, 2**31, (1,), generator=generator)) if generator is not None else 0
        images, example = _views(self.source, raw, seed, self.views, self.flip)
        key = example.meta.get("key", str(raw) if isinstance(raw, int) else self.source.describe(raw))
        return torch.stack(images), example.caption, key

    def describe(self, raw: Any) -> str:
        return self.source.describe(raw)


def _collate(items: list[tuple[torch.Tensor, str, str]], step: int) -> tuple[torch.Tensor, list[str], list[str]]:
    return torch.stack([i[0] for i in items]), [i[1] for i in items], [i[2] for i in items]


@torch.no_grad()
def _encode_part(
    autoencoder: Autoencoder, source: _EncodeSource, part: str, device: torch.device, workers: int, advance: Any
) -> tuple[torch.Tensor, list[str], list[str]]:
    one = _OnePart(source, part)
    codes, captions, keys = [], [], []
    for images, texts, names in iterate_epoch(one, _collate, ENCODE_BATCH, workers=workers):
        flat = images.flatten(0, 1).to(device)
        out = autoencoder.encode(flat).to(torch.int32).cpu()
        codes.append(out.view(images.shape[0], images.shape[1], *out.shape[1:]))
        captions += texts
        keys += [str(k) for k in names]
        if advance is not None:
            advance(len(keys))
    grid = tuple(int(g) for g in autoencoder.grid)
    tokens = torch.cat(codes) if codes else torch.zeros((0, source.views, *grid), dtype=torch.int32)
    return tokens, captions, keys


class _OnePart:
    """One part of a source as a source of its own (the loader's workers split a long part between them)."""

    def __init__(self, source: _EncodeSource, part: str) -> None:
        self.source, self.part = source, part

    def parts(self) -> list[str]:
        return [self.part]

    def read(self, part: str, skips: SkipLog) -> Iterator[Any]:
        return self.source.read(part, skips)

    def decode(self, raw: Any, generator: torch.Generator) -> Any:
        return self.source.decode(raw, generator)

    def describe(self, raw: Any) -> str:
        return self.source.describe(raw)


def _save_part(path: Path, tokens: torch.Tensor, captions: list[str], keys: list[str], vocab: int) -> None:
    from safetensors.torch import save_file

    dtype = torch.int16 if vocab <= 2**15 else torch.int32
    tmp = path.with_name(f".{path.name}.tmp")
    # one metadata entry: safetensors writes its metadata map in no fixed order, and a part must be the same bytes
    # whenever it is encoded again (a resumed run, another rank)
    save_file(
        {"tokens": tokens.to(dtype).contiguous()},
        str(tmp),
        metadata={"items": json.dumps({"captions": captions, "keys": keys})},
    )
    os.replace(tmp, path)


def encode_split(
    state: PipelineState,
    autoencoder: Autoencoder,
    split: str,
    views: int = 1,
    flip: bool = False,
    workers: int = 0,
    stage: str = "prior",
) -> Path:
    """Encode ``split`` into token shards (the parts missing so far; every rank its share) and write the
    manifest. Returns the token directory. Collective under torchrun."""
    directory = tokens_dir(state, views, flip, stage)
    manifest = directory / f"{split}.json"
    stream = dataset_stream(state.dataset, split) if split == "train" else None
    streamed = stream is not None
    base = stream if stream is not None else _RangeParts(state.dataset.split(split))
    source = _EncodeSource(base, views if split == "train" else 1, flip)
    parts = source.parts()
    env = state.env
    if not manifest.is_file():
        directory.mkdir(parents=True, exist_ok=True)
        mine = [p for p in range(len(parts)) if p % env.world_size == env.rank]
        todo = [p for p in mine if not (directory / f"{split}-{p:05d}.safetensors").is_file()]
        label = f"{stage}: encoding the {split} split ({len(todo)} of {len(parts)} parts on this rank)"
        total = None if streamed else sum(len(list(source.read(parts[p], SkipLog()))) for p in todo)
        with WorkProgress(label, state.progress and env.is_main) as advance:
            done = 0
            for p in todo:
                report = None if advance is None else (lambda n, before=done: advance(before + n, total))
                tokens, captions, keys = _encode_part(
                    autoencoder, source, parts[p], env.device, workers if streamed else 0, report
                )
                _save_part(
                    directory / f"{split}-{p:05d}.safetensors", tokens, captions, keys, int(autoencoder.vocab_size)
                )
                done += len(keys)
        barrier(env)
        if env.is_main:
            counts = [_count(directory / f"{split}-{p:05d}.safetensors") for p in range(len(parts))]
            tmp = manifest.with_name(f".{manifest.name}.tmp")
            tmp.write_text(
                json.dumps(
                    {
                        "parts": [f"{split}-{p:05d}.safetensors" for p in range(len(parts))],
                        "counts": counts,
                        "views": source.views,
                    }
                ),
                encoding="utf-8",
            )
            os.replace(tmp, manifest)
    barrier(env)
    return directory


def _count(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return int(handle.get_slice("tokens").get_shape()[0])


def read_part(path: Path) -> tuple[torch.Tensor, list[str], list[str]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        items = json.loads((handle.metadata() or {}).get("items", "{}"))
        tokens = handle.get_tensor("tokens")
    return tokens, items.get("captions", []), items.get("keys", [])


def read_manifest(directory: Path, split: str) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / f"{split}.json").read_text(encoding="utf-8"))
    return manifest


class TokenTable:
    """Every token shard of a split in memory: ``tokens`` ``LongTensor[N, views, h, w]`` and ``captions``."""

    def __init__(self, directory: Path, split: str) -> None:
        manifest = read_manifest(directory, split)
        parts = [read_part(directory / name) for name in manifest["parts"]]
        self.tokens = torch.cat([p[0] for p in parts]).long()
        self.captions = [c for p in parts for c in p[1]]
        self.keys = [k for p in parts for k in p[2]]

    def __len__(self) -> int:
        return len(self.captions)


class TokenParts:
    """A split's token shards streamed part by part (a :class:`genkit.data.loader.PartSource`): items are
    ``(LongTensor[h, w] of one view drawn at random, caption)``."""

    def __init__(self, directory: Path, split: str) -> None:
        self.directory = directory
        self.names = read_manifest(directory, split)["parts"]

    def parts(self) -> list[str]:
        return list(self.names)

    def read(self, part: str, skips: SkipLog) -> Iterator[tuple[torch.Tensor, str]]:
        tokens, captions, _ = read_part(self.directory / part)
        return iter(zip(tokens, captions, strict=True))

    def decode(self, raw: tuple[torch.Tensor, str], generator: torch.Generator) -> tuple[torch.Tensor, str]:
        views, caption = raw
        view = int(torch.randint(0, views.shape[0], (1,), generator=generator)) if views.shape[0] > 1 else 0
        return views[view].long(), caption

    def describe(self, raw: Any) -> str:
        return "token row"


def fits_in_memory(directory: Path, split: str, grid: tuple[int, int]) -> bool:
    manifest = read_manifest(directory, split)
    size: int = sum(manifest["counts"]) * manifest["views"] * grid[0] * grid[1] * 8
    return size <= MEMORY_BYTES

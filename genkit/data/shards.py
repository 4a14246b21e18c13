"""webdataset tar shards as img2dataset writes them: listing, reading raw samples, decoding one sample.

A shard is a tar file whose members are grouped into samples by key: ``KEY.jpg`` (or ``.jpeg``, ``.png``,
``.webp``) + ``KEY.txt`` (+ ``KEY.json``). Reading goes through the ``webdataset`` package
(:func:`webdataset.tariterators.tar_file_iterator` and :func:`~webdataset.tariterators.group_by_keys`); this module
adds what a training run needs around it: one-line errors that name the pattern, and bad input (a truncated tar,
a corrupt image, a sample without caption, a caption that is not UTF-8, a shard that disappeared) skipped,
counted in a :class:`SkipLog` and named in the ``genkit.data`` log, never fatal.

A *raw sample* is webdataset's dict (``__key__``, ``__url__`` and one ``bytes`` value per extension); nothing is
decoded until :func:`decode_caption` / :func:`decode_image` are called on it, so skipping samples costs no decoding.
"""

from __future__ import annotations

import glob
import io
import json
import logging
import os
import tarfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import braceexpand
from PIL import Image

from genkit.data.preprocess import UnreadableImage, load_rgb
from genkit.errors import InputError

log = logging.getLogger("genkit.data")

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
SHARD_SUFFIX = ".tar"


class BadSample(Exception):
    """A sample that cannot be used; the message says why in a few words."""


class SkipLog:
    """Counts skipped samples and shards by reason and names each in the ``genkit.data`` log (the first
    ``named`` of each reason in full, then only counts, so a corpus with many bad members does not flood it)."""

    def __init__(self, named: int = 20) -> None:
        self.counts: Counter[str] = Counter()
        self.named = named

    def skip(self, reason: str, where: str, detail: str = "") -> None:
        self.counts[reason] += 1
        if self.counts[reason] <= self.named:
            log.warning("genkit data: skipping %s: %s%s", where, reason, f" ({detail})" if detail else "")
        elif self.counts[reason] == self.named + 1:
            log.warning("genkit data: more samples skipped for %r; only counted from now on", reason)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        return ", ".join(f"{n} {reason}" for reason, n in sorted(self.counts.items())) or "none"


def expand_shards(spec: str | Sequence[str], key: str = "data.shards") -> list[str]:
    """The shard files named by ``spec``: a directory (its ``*.tar``, sorted), a glob (``data/*.tar``), a brace
    pattern (``data/{00000..00127}.tar``), a single file, or a list of any of these. Missing files of a brace
    pattern are an error that names them (a partial download is worth knowing about before training starts)."""
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs or not all(isinstance(s, str) and s.strip() for s in specs):
        raise InputError(
            f"{key}: names no shards (give a directory, a glob or a brace pattern such as data/{{00000..00127}}.tar)"
        )
    found: list[str] = []
    for item in specs:
        path = os.path.expanduser(item)
        if os.path.isdir(path):
            names = sorted(str(p) for p in Path(path).glob(f"*{SHARD_SUFFIX}"))
            if not names:
                raise InputError(f"{key}: {item}: directory holds no {SHARD_SUFFIX} shard")
            found.extend(names)
            continue
        if any(ch in path for ch in "*?["):
            names = sorted(glob.glob(path))
            if not names:
                raise InputError(f"{key}: {item}: the pattern matches no file")
            found.extend(names)
            continue
        expanded = list(braceexpand.braceexpand(path))
        missing = [name for name in expanded if not os.path.isfile(name)]
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise InputError(f"{key}: {item}: no such file: {shown}")
        found.extend(expanded)
    duplicates = [name for name, n in Counter(found).items() if n > 1]
    if duplicates:
        raise InputError(f"{key}: {duplicates[0]} is named twice")
    return found


def read_shard(
    path: str, skips: SkipLog | None = None, select: Callable[[str], bool] | None = None
) -> Iterator[dict[str, Any]]:
    """The raw samples of one shard in tar order (webdataset's grouping by key). A shard that cannot be opened,
    or whose tar ends early, is logged and counted in ``skips``; the samples read before the damage are yielded.
    ``select(member_name)`` keeps only some members (the others' bytes are skipped, not copied)."""
    from webdataset.tariterators import group_by_keys, tar_file_iterator

    skips = skips if skips is not None else SkipLog()
    try:
        stream = open(path, "rb")
    except OSError as exc:
        skips.skip("missing shard", path, exc.strerror or type(exc).__name__)
        return
    damage: list[Exception] = []

    def stop_shard(exc: Exception) -> bool:
        damage.append(exc)
        return False  # a damaged tar stream cannot be trusted past this point: end this shard

    with stream:
        members = _guarded(tar_file_iterator(stream, handler=stop_shard, select_files=select), path, damage)
        held = None  # one sample of lookahead: the sample being read when the tar broke is dropped, not yielded
        for sample in group_by_keys(members, handler=stop_shard):
            if held is not None:
                yield held
            held = sample
        if held is not None and not damage:
            yield held
    if damage:
        detail = str(damage[0]).split(" @ ")[0]
        skips.skip("truncated or corrupt tar", path, f"{type(damage[0]).__name__}: {detail}")


def _guarded(members: Iterator[dict[str, Any]], url: str, damage: list[Exception]) -> Iterator[dict[str, Any]]:
    """Members with ``__url__`` set; a read error ends the stream and is recorded in ``damage``."""
    try:
        for member in members:
            member["__url__"] = url
            yield member
    except (OSError, EOFError, ValueError, tarfile.TarError) as exc:
        damage.append(exc)


def sample_name(sample: dict[str, Any]) -> str:
    return f"{sample.get('__url__', '?')}:{sample.get('__key__', '?')}"


def decode_caption(sample: dict[str, Any], caption_key: str = "txt") -> str:
    """The caption of a raw sample: its ``.txt`` member, or ``json:NAME`` for a key of its ``.json`` member.
    Raises :class:`BadSample` when it is missing, empty or not UTF-8."""
    if caption_key.startswith("json:"):
        name = caption_key[5:]
        if "json" not in sample:
            raise BadSample("no .json member (caption_key json:...)")
        try:
            value = json.loads(sample["json"].decode("utf-8")).get(name)
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            raise BadSample("unreadable .json member") from None
        if not isinstance(value, str):
            raise BadSample(f"no string {name!r} in its .json")
        text = value
    else:
        data = sample.get(caption_key)
        if data is None:
            raise BadSample(f"no caption (.{caption_key} member)")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadSample("caption is not UTF-8") from None
    text = " ".join(text.split())
    if not text:
        raise BadSample("empty caption")
    return text


def image_member(sample: dict[str, Any]) -> str:
    for ext in IMAGE_EXTENSIONS:
        if ext in sample:
            return ext
    raise BadSample(f"no image member ({', '.join('.' + e for e in IMAGE_EXTENSIONS)})")


def decode_image(sample: dict[str, Any]) -> Image.Image:
    """The sample's image as RGB (alpha on white), fully decoded; :class:`BadSample` when corrupt."""
    ext = image_member(sample)
    try:
        return load_rgb(io.BytesIO(sample[ext]))
    except UnreadableImage as exc:
        raise BadSample(f"corrupt .{ext} ({exc})") from None

"""``genkit data inspect`` and ``genkit data verify``: statistics, a contact sheet and a full check of tar shards.

Both read shards through :mod:`genkit.data.shards` (img2dataset's layout) in one streaming pass: memory stays
bounded whatever the corpus size (sizes and caption lengths are kept as counts per value, the contact sheet's
samples by reservoir sampling). ``inspect`` reads captions and image headers only; ``verify`` decodes everything.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from genkit.data.shards import BadSample, SkipLog, decode_caption, decode_image, expand_shards, image_member, read_shard

Progress = Callable[[int, int], None] | None
SMALL_SIDE = 256  # inspect reports the share of images whose short side is under this
TILE = 96  # contact sheet tile side, in pixels
LABEL_CHARS = 60  # captions are cut to this length under their tile
MAX_PROBLEMS = 10_000  # verify --json lists at most this many problems (all are counted)


class QuietSkips(SkipLog):
    """A :class:`SkipLog` that records what it is told instead of logging it (verify prints its own lines)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str, str]] = []

    def skip(self, reason: str, where: str, detail: str = "") -> None:
        self.counts[reason] += 1
        self.events.append((reason, where, detail))


def reason_of(problem: BadSample | str) -> str:
    """The countable part of a problem message (``corrupt .jpg (details)`` -> ``corrupt .jpg``)."""
    return str(problem).split(" (")[0]


def median(counts: Counter[int]) -> float | None:
    """The median of values held as ``{value: how many}``."""
    n = sum(counts.values())
    if not n:
        return None
    wanted, picked, seen = sorted({(n - 1) // 2, n // 2}), [], 0
    for value in sorted(counts):
        seen += counts[value]
        while wanted and wanted[0] < seen:
            picked.append(value)
            wanted.pop(0)
    return sum(picked) / len(picked)


def spread(counts: Counter[int]) -> dict[str, float | None]:
    """``min``, ``median`` and ``max`` of values held as counts."""
    return {"min": min(counts, default=None), "median": median(counts), "max": max(counts, default=None)}


def histogram(counts: Counter[int], bins: int = 10) -> list[dict[str, int]]:
    """Equal-width integer bins from the smallest to the largest value: ``[{from, to, count}]``."""
    if not counts:
        return []
    low, high = min(counts), max(counts)
    width = max(1, math.ceil((high - low + 1) / bins))
    rows = [{"from": start, "to": start + width - 1, "count": 0} for start in range(low, high + 1, width)]
    for value, n in counts.items():
        rows[(value - low) // width]["count"] += n
    return rows


class Reservoir:
    """A uniform random sample of ``size`` items from a stream of unknown length (algorithm R), seeded."""

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.rng, self.seen = size, random.Random(seed), 0
        self.items: list[Any] = []

    def offer(self, item: Any) -> None:
        if len(self.items) < self.size:
            self.items.append(item)
        else:
            slot = self.rng.randrange(self.seen + 1)
            if slot < self.size:
                self.items[slot] = item
        self.seen += 1


def inspect_shards(
    spec: str, caption_key: str = "txt", sample: int = 32, seed: int = 0, progress: Progress = None
) -> tuple[dict[str, Any], list[tuple[str, str, str, bytes]]]:
    """Statistics of the shards ``spec`` names (see :func:`format_report`) and ``sample`` random readable samples
    as ``(name, caption, image extension, image bytes)``. Bad samples are counted by reason (and named in the log)."""
    shards = expand_shards(spec, key="SHARDS")
    skips, reservoir = SkipLog(), Reservoir(sample, seed)
    per_shard: list[int] = []
    widths: Counter[int] = Counter()
    heights: Counter[int] = Counter()
    words: Counter[int] = Counter()  # captions by number of words
    small = 0
    for done, path in enumerate(shards, 1):
        per_shard.append(0)
        for raw in read_shard(path, skips):
            per_shard[-1] += 1
            where = f"{path}:{raw.get('__key__')}"
            try:
                caption = decode_caption(raw, caption_key)
                ext = image_member(raw)
                data = raw[ext]
                size = _image_size(data)
            except BadSample as exc:
                skips.skip(reason_of(exc), where)
                continue
            widths[size[0]] += 1
            heights[size[1]] += 1
            small += min(size) < SMALL_SIDE
            words[len(caption.split())] += 1
            reservoir.offer((where, caption, ext, data))
        if progress is not None:
            progress(done, len(shards))
    good = sum(words.values())
    report = {
        "shards": len(shards),
        "samples": sum(per_shard),
        "readable": good,
        "samples_per_shard": {
            "min": min(per_shard),
            "mean": round(sum(per_shard) / len(per_shard), 2),
            "max": max(per_shard),
        },
        "width": spread(widths),
        "height": spread(heights),
        "small_share": round(small / good, 4) if good else None,
        "small_side": SMALL_SIDE,
        "caption_words": spread(words),
        "caption_histogram": histogram(words),
        "skipped": skips.total,
        "skipped_by_reason": dict(sorted(skips.counts.items())),
    }
    return report, reservoir.items


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the image header (no decoding); :class:`BadSample` when there is no readable header."""
    image: Image.Image  # Image.open(...).__enter__ is typed as Any
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception as exc:  # Pillow raises many types for a bad header  # noqa: BLE001
        raise BadSample(f"unreadable image header ({type(exc).__name__})") from None


def _triple(stats: dict[str, float | None]) -> str:
    """``min/median/max`` (``-`` for a missing value)."""
    return "/".join("-" if stats[k] is None else f"{stats[k]:g}" for k in ("min", "median", "max"))


def format_report(report: dict[str, Any]) -> str:
    """The text form of an inspect report."""
    per, w, h, words = report["samples_per_shard"], report["width"], report["height"], report["caption_words"]
    small = "-" if report["small_share"] is None else f"{100 * report['small_share']:.1f}%"
    lines = [
        f"shards              {report['shards']}",
        f"samples             {report['samples']} ({report['readable']} readable)",
        f"samples per shard   min {per['min']}, mean {per['mean']:g}, max {per['max']}",
        f"width  min/med/max  {_triple(w)} px",
        f"height min/med/max  {_triple(h)} px",
        f"short side < {report['small_side']}    {small} of readable images",
        f"caption words       min/med/max {_triple(words)}",
    ]
    rows = report["caption_histogram"]
    top = max((row["count"] for row in rows), default=0)
    for row in rows:
        span = f"{row['from']}" if row["from"] == row["to"] else f"{row['from']}-{row['to']}"
        bar = "#" * (round(40 * row["count"] / top) if top else 0)
        lines.append(f"  {span:>9} words  {bar} {row['count']}")
    skipped = ", ".join(f"{n} {reason}" for reason, n in report["skipped_by_reason"].items()) or "none"
    lines.append(f"skipped             {skipped}")
    return "\n".join(lines)


def write_contact_sheet(picked: list[tuple[str, str, str, bytes]], path: Path) -> Path:
    """A PNG grid of the picked samples, each centre-cropped to ``TILE`` px with its caption under it."""
    import torch

    from genkit.data.preprocess import resize_short_side, square_crop, to_uint8
    from genkit.images import save_image_grid

    tiles, labels = [], []
    for name, caption, ext, data in picked:
        label = caption if len(caption) <= LABEL_CHARS else caption[: LABEL_CHARS - 3] + "..."
        try:
            image = decode_image({"__key__": name, ext: data})
            tiles.append(square_crop(to_uint8(resize_short_side(image, TILE)), TILE))
        except BadSample:
            tiles.append(torch.full((3, TILE, TILE), 0.5))
            label = f"(corrupt image) {label}"
        labels.append(label)
    nrow = max(1, math.ceil(math.sqrt(len(tiles))))
    return save_image_grid(torch.stack(tiles), path, nrow=nrow, labels=labels)


def _verify_sample(raw: dict[str, Any], caption_key: str) -> list[str]:
    """Every problem of one raw sample (empty when it is good)."""
    problems = []
    for check in (lambda: decode_image(raw), lambda: decode_caption(raw, caption_key), lambda: _check_json(raw)):
        try:
            check()
        except BadSample as exc:
            problems.append(str(exc))
    return problems


def _check_json(raw: dict[str, Any]) -> None:
    if "json" in raw:
        try:
            json.loads(raw["json"].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadSample("unreadable .json member") from None


def verify_events(
    shards: list[str], caption_key: str = "txt", progress: Progress = None
) -> Iterator[tuple[str, str, list[str]]]:
    """``(kind, where, problems)`` for every sample (kind ``sample``; no problems when it is good) and every
    damaged shard (kind ``shard``), in shard order; images are decoded fully."""
    for done, path in enumerate(shards, 1):
        skips = QuietSkips()
        for raw in read_shard(path, skips):
            yield "sample", f"{path}:{raw.get('__key__')}", _verify_sample(raw, caption_key)
        for reason, where, detail in skips.events:
            yield "shard", where, [f"{reason} ({detail})" if detail else reason]
        if progress is not None:
            progress(done, len(shards))


def verify_shards(
    spec: str, caption_key: str = "txt", emit: Callable[[str], None] | None = None, progress: Progress = None
) -> dict[str, Any]:
    """Check every sample of the shards ``spec`` names; ``emit`` gets one ``WHERE: reason`` line per bad sample or
    damaged shard as it is found. Returns the counts and (at most ``MAX_PROBLEMS``) problems."""
    shards = expand_shards(spec, key="SHARDS")
    ok = bad = 0
    by_reason: Counter[str] = Counter()
    problems: list[dict[str, str]] = []
    damaged: list[str] = []
    for kind, where, found in verify_events(shards, caption_key, progress):
        if not found:
            ok += 1
            continue
        if kind == "shard":
            damaged.append(where)
        else:
            bad += 1
        by_reason.update(reason_of(problem) for problem in found)
        reason = "; ".join(found)
        if len(problems) < MAX_PROBLEMS:
            problems.append({"where": where, "reason": reason})
        if emit is not None:
            emit(f"{where}: {reason}")
    return {
        "shards": len(shards),
        "ok": ok,
        "bad": bad,
        "damaged_shards": damaged,
        "problems_by_reason": dict(sorted(by_reason.items())),
        "problems": problems,
    }


def verify_summary(result: dict[str, Any]) -> str:
    """The last line of verify: ``N samples ok, M bad in K shards`` (and the damaged shards)."""
    shards = result["shards"]
    line = f"{result['ok']} samples ok, {result['bad']} bad in {shards} shard{'s' * (shards != 1)}"
    if result["damaged_shards"]:
        n = len(result["damaged_shards"])
        line += f"; {n} damaged shard{'s' * (n != 1)}"
    return line

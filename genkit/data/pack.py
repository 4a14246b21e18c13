"""``genkit data pack``: local images and captions -> webdataset tar shards in img2dataset's layout.

SOURCE is a ``folder`` dataset directory (its ``captions.jsonl``) or an index file (``.jsonl``, ``.csv``,
``.parquet``) with an image path column and a caption column. OUT_DIR receives ``00000.tar``, ``00001.tar``, ...
(per sample ``KEY.jpg|png|webp``, ``KEY.txt``, ``KEY.json``), ``NNNNN_stats.json`` beside each shard, and
``pack.json`` for the whole run. Unreadable or missing images are skipped, counted and named, never fatal.
Everything is streamed: memory does not grow with the corpus (only the names of skipped items are kept).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from genkit.data.jsonl import jsonl_objects
from genkit.data.preprocess import UnreadableImage, load_rgb, resize_short_side
from genkit.data.shards import SkipLog
from genkit.errors import InputError

log = logging.getLogger("genkit.data")

FORMATS = ("keep", "jpg", "png", "webp")
KEPT_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}  # Pillow's name -> the member's extension
SAVE_AS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}
IMAGE_COLUMNS = ("file", "path", "image", "filepath", "url")  # the first present is the image path column
CAPTION_COLUMNS = ("caption", "text", "txt")
INDEX_SUFFIXES = (".jsonl", ".csv", ".parquet")
CAPTIONS = "captions.jsonl"
SUMMARY = "pack.json"
NAMED_SKIPS = 10_000  # pack.json names at most this many skipped items (all are counted)


@dataclass
class PackOptions:
    """The options of one pack run (as given on the command line)."""

    per_shard: int = 10_000
    resize: int | None = None
    format: str = "keep"
    quality: int = 95
    image_column: str | None = None
    caption_column: str | None = None
    force: bool = False


@dataclass
class Index:
    """The rows of SOURCE: the index file, the directory its relative paths resolve against, and whether paths must
    stay inside that directory (a folder dataset's captions.jsonl)."""

    path: Path
    root: Path
    contained: bool

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(where, row)`` for every row, ``where`` naming it (``FILE:LINE``); one-line errors for a bad file."""
        suffix = self.path.suffix.lower()
        try:
            if suffix == ".parquet":
                for number, row in enumerate(_parquet_rows(self.path), 1):
                    yield f"{self.path}:row {number}", row
                return
            with open(self.path, encoding="utf-8-sig", newline="" if suffix == ".csv" else None) as stream:
                yield from (_csv_rows(self.path, stream) if suffix == ".csv" else _jsonl_rows(self.path, stream))
        except UnicodeDecodeError:
            raise InputError(f"{self.path}: not UTF-8 text") from None
        except OSError as exc:
            raise InputError(f"{self.path}: cannot read ({exc.strerror or type(exc).__name__})") from None

    def count(self) -> int:
        """Number of rows (reads the whole index once, so a bad line is reported before anything is written)."""
        return sum(1 for _ in self.rows())

    def columns(self) -> tuple[list[str], dict[str, Any] | None]:
        """The column names (a JSONL file: the keys of its first row) and the first row."""
        first = next((row for _, row in self.rows()), None)
        if self.path.suffix.lower() == ".parquet":
            return list(_parquet_file(self.path).schema_arrow.names), first
        return list(first or {}), first


def _jsonl_rows(path: Path, stream: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for number, row in jsonl_objects(path, stream):
        yield f"{path}:{number}", row


def _csv_rows(path: Path, stream: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(stream)
    for row in reader:
        yield f"{path}:{reader.line_num}", {k: v for k, v in row.items() if k is not None}


def _parquet_file(path: Path) -> Any:  # a pyarrow.parquet.ParquetFile (pyarrow is untyped)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: reading parquet needs pyarrow (pip install pyarrow)") from None
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own error types for a file that is not parquet
        raise InputError(f"{path}: not a readable parquet file ({type(exc).__name__})") from None


def _parquet_rows(path: Path) -> Iterator[dict[str, Any]]:
    for batch in _parquet_file(path).iter_batches(batch_size=1024):
        yield from batch.to_pylist()


def open_index(source: Path) -> Index:
    """The index of SOURCE: DIR/captions.jsonl for a directory, else the .jsonl, .csv or .parquet file itself."""
    if source.is_dir():
        if not (source / CAPTIONS).is_file():
            raise InputError(f"{source}: directory has no {CAPTIONS} (or give a .jsonl, .csv or .parquet index)")
        return Index(source / CAPTIONS, source, contained=True)
    if not source.exists():
        raise InputError(f"{source}: no such file or directory")
    if source.suffix.lower() not in INDEX_SUFFIXES:
        raise InputError(f"{source}: not a directory or an index file ({', '.join(INDEX_SUFFIXES)})")
    return Index(source, source.parent, contained=False)


def choose_columns(index: Index, image_column: str | None, caption_column: str | None) -> tuple[str, str]:
    """The image path and caption columns: the ones asked for, else the first present of the usual names (``url``
    only when it holds a local path)."""
    names, first = index.columns()
    if first is None:
        raise InputError(f"{index.path}: no rows")
    listed = ", ".join(names)

    def pick(option: str, given: str | None, candidates: tuple[str, ...], what: str) -> str:
        if given is not None:
            if given not in names:
                raise InputError(f"{option}: {given!r} is not a column of {index.path} (columns: {listed})")
            return given
        for name in candidates:
            if name in names and not (name == "url" and "://" in str(first.get(name)).replace("file://", "")):
                return name
        raise InputError(
            f"{index.path}: no {what} column (looked for {', '.join(candidates)}; columns: {listed}); "
            f"name it with {option}"
        )

    return (
        pick("--image-column", image_column, IMAGE_COLUMNS, "image path"),
        pick("--caption-column", caption_column, CAPTION_COLUMNS, "caption"),
    )


class Skip(Exception):
    """An item that cannot be packed: ``reason`` (a few words, counted) and ``detail`` (shown, not counted)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def check_options(options: PackOptions) -> None:
    """One-line errors for option values that make no sense."""
    if options.per_shard < 1:
        raise InputError(f"--per-shard: must be at least 1, not {options.per_shard}")
    if options.resize is not None and options.resize < 1:
        raise InputError(f"--resize: must be a positive number of pixels, not {options.resize}")
    if options.format not in FORMATS:
        raise InputError(f"--format: {options.format!r} is not one of {', '.join(FORMATS)}")
    if not 1 <= options.quality <= 100:
        raise InputError(f"--quality: must be in 1..100, not {options.quality}")


def encode_image(data: bytes, options: PackOptions) -> tuple[bytes, str, tuple[int, int], tuple[int, int]]:
    """The bytes to store for one image file, their extension, the stored size and the original size.

    The image is always decoded fully (a corrupt file is skipped, not packed). The original bytes are kept when no
    resize is asked and the file is already in the wanted format (``keep``: any of jpg/png/webp)."""
    try:
        image = load_rgb(io.BytesIO(data))
        with Image.open(io.BytesIO(data)) as probe:
            found = KEPT_FORMATS.get(probe.format or "")
    except UnreadableImage as exc:  # its message names a BytesIO: keep only what Pillow said
        detail = re.sub(r"^unreadable image \((.*)\)$", r"\1", str(exc))
        raise Skip("unreadable image", re.sub(r"\s*<_io\.BytesIO object at 0x\w+>", "", detail)) from None
    original = image.size
    target = (found or "jpg") if options.format == "keep" else options.format
    if options.resize is None and found == target:
        return data, target, original, original
    if options.resize is not None:
        image = resize_short_side(image, options.resize)
    buffer = io.BytesIO()
    extra = {"quality": options.quality} if target in ("jpg", "webp") else {}
    image.save(buffer, SAVE_AS[target], **extra)
    return buffer.getvalue(), target, image.size, original


def resolve(index: Index, value: Any) -> Path:
    """The local file an index row names; :class:`Skip` when it names none or leaves a folder source."""
    if not isinstance(value, str) or not value.strip():
        raise Skip("no image path")
    text = value.strip()
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        raise Skip("remote URL", "pack reads local files; download with img2dataset")
    path = Path(os.path.expanduser(text))
    if index.contained:
        if path.is_absolute():
            raise Skip("absolute path", f"{index.path.name} paths are relative to its directory")
        if os.path.normpath(text).split(os.sep)[0] == os.pardir:
            raise Skip("path leaves the source directory")
    return path if path.is_absolute() else index.root / path


class ShardSet:
    """Writes samples into ``OUT_DIR/NNNNN.tar`` (a temp name until the shard is complete, then renamed) and its
    ``NNNNN_stats.json``. A new shard starts when a sample arrives and the current one holds ``per_shard``, so the
    failures after a full shard are counted in that shard's stats (as img2dataset counts them)."""

    def __init__(self, out_dir: Path, per_shard: int, mtime: float) -> None:
        self.out_dir, self.per_shard, self.mtime = out_dir, per_shard, mtime
        self.key_width = max(4, len(str(per_shard - 1)))
        self.written: list[dict[str, Any]] = []  # stats of every finished shard
        # the shard being written: all set by _open, or all None
        self._writer: Any = None  # a webdataset.TarWriter (webdataset is untyped)
        self._file: BinaryIO | None = None
        self._tmp: Path | None = None
        self._stats: dict[str, Any] | None = None
        self._pending_failures = 0

    def next_key(self) -> str:
        """The key the next written sample gets (opens a shard when needed)."""
        if self._stats is None or self._stats["successes"] >= self.per_shard:
            self._finish()
            self._open()
        assert self._stats is not None  # _open set it
        return f"{self._stats['shard']}{self._stats['successes']:0{self.key_width}d}"

    def write(self, sample: dict[str, bytes | str]) -> None:
        assert self._writer is not None and self._stats is not None, "next_key() opens a shard first"
        self._writer.write(sample)
        self._stats["successes"] += 1
        self._stats["count"] += 1

    def fail(self) -> None:
        if self._stats is None:
            self._pending_failures += 1
        else:
            self._stats["failed"] += 1
            self._stats["count"] += 1

    def close(self) -> None:
        self._finish()

    def abort(self) -> None:
        """Drop the shard being written (an interrupted run leaves only complete shards)."""
        if self._writer is not None:
            assert self._tmp is not None  # set with _writer
            self._writer.close()
            self._tmp.unlink(missing_ok=True)
            self._writer = None

    def _open(self) -> None:
        from webdataset import TarWriter

        shard = f"{len(self.written):05d}"
        self._tmp = self.out_dir / f".{shard}.tar.tmp"
        self._file = open(self._tmp, "wb")
        self._writer = TarWriter(self._file, encoder=False, mtime=self.mtime)
        failed, self._pending_failures = self._pending_failures, 0
        self._stats = {"count": failed, "successes": 0, "failed": failed, "shard": shard}

    def _finish(self) -> None:
        if self._writer is None:
            return
        assert self._file is not None and self._tmp is not None and self._stats is not None  # set with _writer
        self._writer.close()
        self._file.close()
        shard = self._stats["shard"]
        os.replace(self._tmp, self.out_dir / f"{shard}.tar")
        write_json(self.out_dir / f"{shard}_stats.json", self._stats)
        self.written.append(dict(self._stats))
        self._writer = None


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON beside ``path`` and rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prepare_out_dir(out_dir: Path, force: bool) -> list[str]:
    """Create OUT_DIR, or refuse a non-empty one without ``force``. Returns the files an earlier pack listed in its
    pack.json there (removed at the end if this run does not write them again)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a directory")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    if entries and not force:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise InputError(f"{out_dir}: directory is not empty ({shown}); use --force to write the shards into it")
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        earlier = json.loads((out_dir / SUMMARY).read_text(encoding="utf-8"))
        return [
            name
            for shard in earlier.get("shards", [])
            for name in (f"{shard['shard']}.tar", f"{shard['shard']}_stats.json")
        ]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []


def pack_item(
    row: dict[str, Any], columns: tuple[str, str], index: Index, shards: ShardSet, options: PackOptions
) -> None:
    """Read, check and write one index row; :class:`Skip` when it cannot be packed."""
    image_column, caption_column = columns
    caption = row.get(caption_column)
    if caption is None:
        raise Skip("no caption", f"no {caption_column!r} value")
    if not isinstance(caption, str):
        raise Skip("caption is not text", f"{caption_column!r} is {type(caption).__name__}")
    if not caption.strip():
        raise Skip("empty caption")
    path = resolve(index, row.get(image_column))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise Skip("missing file", str(path)) from None
    except OSError as exc:
        raise Skip("unreadable file", f"{path}: {exc.strerror or type(exc).__name__}") from None
    image, ext, (width, height), original = encode_image(data, options)
    key = shards.next_key()
    meta = {name: value for name, value in row.items() if name not in columns}
    meta.update(key=key, caption=caption, source=row[image_column], width=width, height=height)
    if options.resize is not None:
        meta.update(original_width=original[0], original_height=original[1])
    shards.write(
        {
            "__key__": key,
            ext: image,
            "txt": caption.encode("utf-8"),
            "json": json.dumps(meta, ensure_ascii=False, default=str).encode("utf-8"),
        }
    )


def pack(
    source: Path, out_dir: Path, options: PackOptions, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Pack SOURCE into OUT_DIR (see the module docstring). Returns the summary also written to pack.json."""
    check_options(options)
    index = open_index(source)
    columns = choose_columns(index, options.image_column, options.caption_column)
    total = index.count()
    earlier = prepare_out_dir(out_dir, options.force)
    started = time.time()
    shards, skips = ShardSet(out_dir, options.per_shard, mtime=int(started)), SkipLog()
    skipped: list[dict[str, str]] = []
    done = 0
    try:
        for where, row in index.rows():
            try:
                pack_item(row, columns, index, shards, options)
            except Skip as skip:
                shards.fail()
                skips.skip(skip.reason, f"{where} ({row.get(columns[0])})", skip.detail)
                if len(skipped) < NAMED_SKIPS:
                    skipped.append(
                        {
                            "row": where,
                            "source": str(row.get(columns[0])),
                            "reason": skip.reason,
                            **({"detail": skip.detail} if skip.detail else {}),
                        }
                    )
            done += 1
            if progress is not None:
                progress(done, total)
        shards.close()
    except BaseException:
        shards.abort()
        raise
    rewritten = {name for s in shards.written for name in (f"{s['shard']}.tar", f"{s['shard']}_stats.json")}
    for name in set(earlier) - rewritten:
        (out_dir / name).unlink(missing_ok=True)
    others = sorted(p.name for p in out_dir.glob("*.tar") if p.name not in rewritten)
    if others:
        log.warning(
            "genkit data: %s also holds %d .tar file(s) this pack did not write (%s); readers of the "
            "directory will read them too",
            out_dir,
            len(others),
            ", ".join(others[:3]),
        )
    summary = {
        "source": str(source),
        "index": str(index.path),
        "out_dir": str(out_dir),
        "columns": {"image": columns[0], "caption": columns[1]},
        "options": asdict(options),
        "items": done,
        "packed": sum(s["successes"] for s in shards.written),
        "skipped": skips.total,
        "skipped_by_reason": dict(sorted(skips.counts.items())),
        "skipped_items": skipped,
        "skipped_items_named": len(skipped),
        "shards": shards.written,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 2),
    }
    write_json(out_dir / SUMMARY, summary)
    return summary


def summary_line(summary: dict[str, Any]) -> str:
    """The one line printed at the end of a pack run."""
    shards = len(summary["shards"])
    line = (
        f"packed {summary['packed']} of {summary['items']} items into {shards} shard{'s' * (shards != 1)} "
        f"in {summary['out_dir']}"
    )
    if summary["skipped"]:
        reasons = ", ".join(f"{n} {reason}" for reason, n in summary["skipped_by_reason"].items())
        line += f"; {summary['skipped']} skipped ({reasons}), named in {Path(summary['out_dir']) / SUMMARY}"
    return line

"""``genkit tokenizer train CAPTIONS --vocab-size N --out DIR``: a BPE tokenizer from a caption file, as an export."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import genkit


def read_captions(path: Path) -> Iterator[str]:
    """Captions from ``path``, streamed: a ``.jsonl`` file (objects with a ``caption`` string; objects whose
    ``split`` is not ``train`` are skipped) or a text file (one caption per line, blank lines skipped)."""
    if not path.is_file():
        raise genkit.InputError(f"{path}: no such caption file")
    jsonl = path.suffix.lower() == ".jsonl"
    with path.open(encoding="utf-8", errors="strict") as handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                if not jsonl:
                    yield line.rstrip("\r\n")
                    continue
                yield from _jsonl_caption(path, number, line)
        except UnicodeDecodeError as exc:
            raise genkit.InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _jsonl_caption(path: Path, number: int, line: str) -> Iterator[str]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise genkit.InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
    if not isinstance(item, dict) or not isinstance(item.get("caption"), str):
        raise genkit.InputError(f"{path}:{number}: expected an object with a 'caption' string")
    if item.get("split", "train") == "train":
        yield item["caption"]


def setup_tokenizer_command(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="tokenizer_command", metavar="ACTION", required=True)
    train = sub.add_parser("train", help="learn a BPE vocabulary from captions and write a genkit export")
    train.add_argument(
        "captions", type=Path, metavar="CAPTIONS", help="text file (one caption per line) or captions.jsonl"
    )
    train.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="export directory to write (tokenizer/ inside)"
    )
    train.add_argument(
        "--vocab-size", type=int, default=16384, metavar="N", help="configured vocabulary size (default 16384)"
    )
    train.add_argument("--max-length", type=int, default=256, metavar="T", help="tokens per caption (default 256)")
    train.add_argument(
        "--min-frequency", type=int, default=2, metavar="K", help="least count of a merged pair (default 2)"
    )
    train.add_argument(
        "--dropout", type=float, default=0.1, metavar="P", help="BPE dropout used in training (default 0.1)"
    )
    train.add_argument("--no-lowercase", action="store_true", help="keep case (the paper lowercases)")


def run_tokenizer_command(args: argparse.Namespace) -> int:
    if args.tokenizer_command != "train":  # argparse only lets through known actions
        raise genkit.InputError(f"genkit tokenizer: unknown action {args.tokenizer_command!r}")
    params = genkit.make_params(
        "tokenizer",
        "bpe",
        {
            "vocab_size": args.vocab_size,
            "max_length": args.max_length,
            "min_frequency": args.min_frequency,
            "dropout": args.dropout,
            "lowercase": not args.no_lowercase,
        },
    )
    tokenizer = genkit.build_component("tokenizer", params)
    count = 0

    def counted() -> Iterator[str]:
        nonlocal count
        for caption in read_captions(args.captions):
            count += 1
            yield caption

    start = time.perf_counter()
    tokenizer.train(counted())
    seconds = time.perf_counter() - start
    if count == 0:
        raise genkit.InputError(f"{args.captions}: no captions found")
    role_dir = genkit.save_component(args.out, "tokenizer", tokenizer, params, genkit.BuildContext())
    print(
        f"trained on {count} captions in {seconds:.1f}s: {tokenizer.trained_vocab_size} tokens "
        f"(configured vocab_size {tokenizer.vocab_size}) -> {role_dir}"
    )
    return 0

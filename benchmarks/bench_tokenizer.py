"""BPE tokenizer benchmark: training time for a 16384 vocabulary and batch-encoding captions/s, on 100k captions.

One JSON object per line::

    python benchmarks/bench_tokenizer.py [--captions 100000] [--vocab-size 16384] [--batch 1024]

Captions are synthetic and reproducible: templates over colours, shapes, places and counts, mixed with words drawn
from a Zipf-distributed lexicon of 20k made-up words (so that a 16384 vocabulary has something to learn), a little
punctuation and some non-ASCII. Lines:

- ``tokenizer_train``: seconds to train on all captions (wall and process CPU), tokens actually learned.
- ``tokenizer_encode``: captions/s encoding all captions in batches of ``--batch`` (``cold``: empty word cache,
  ``warm``: second pass), plus captions per CPU-second (robust on a shared machine).
- ``tokenizer_encode_dropout``: the same with BPE dropout (training-time path, Python merges, seeded).
- ``hf_encode_batch_reference``: the same captions through a plain ``tokenizers`` pipeline doing the same work
  (NFKC, lowercase, whitespace, byte-level BPE with this vocabulary) with ``encode_batch``; ``speedup`` is the
  warm genkit rate over it, measured in this process.

The goal of issue 5 is >= 100k captions/s on 2 cores. The machine may be shared: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time

import genkit

COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black", "pink", "brown", "grey", "teal"]
SHAPES = ["circle", "square", "triangle", "star", "hexagon", "heart", "cross", "ellipse", "pentagon", "diamond"]
PLACES = ["top left", "top right", "bottom left", "bottom right", "center", "middle", "left edge", "right edge"]
SYLLABLES = [
    "ka",
    "ro",
    "mi",
    "tel",
    "san",
    "dor",
    "vi",
    "lu",
    "quen",
    "bra",
    "sto",
    "ph",
    "ex",
    "ia",
    "ne",
    "gh",
    "ar",
    "th",
    "ou",
    "ly",
    "ment",
    "ing",
    "ed",
    "pre",
    "con",
    "al",
    "ic",
    "ous",
    "é",
    "ü",
    "ñ",
]


def synthetic_captions(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lexicon = sorted({"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(25000)})[:20000]
    weights = [1.0 / (rank + 1) for rank in range(len(lexicon))]
    words = rng.choices(lexicon, weights, k=count * 6)
    captions = []
    for i in range(count):
        prose = " ".join(words[6 * i : 6 * i + rng.randint(2, 6)])
        shape = f"{rng.choice(COLOURS)} {rng.choice(SHAPES)}"
        template = rng.randrange(4)
        if template == 0:
            captions.append(f"A {shape} at the {rng.choice(PLACES)}, {prose}.")
        elif template == 1:
            captions.append(f"{rng.randint(2, 12)} {shape}s next to a {rng.choice(COLOURS)} {rng.choice(SHAPES)}")
        elif template == 2:
            captions.append(f"{prose.capitalize()} {shape}; {prose} #{rng.randint(0, 9999)}")
        else:
            captions.append(f"Photo of a {shape}  on a {rng.choice(COLOURS)} background: {prose}!")
    return captions


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def encode_all(tok, captions, batch, **kwargs):
    tokens = 0
    for start in range(0, len(captions), batch):
        tokens += int(tok.encode(captions[start : start + batch], **kwargs).lengths.sum())
    return tokens


def hf_reference(tok, captions, batch):
    """The same work in a plain ``tokenizers`` pipeline (its normaliser and byte-level split, our vocabulary)."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers

    hf = Tokenizer.from_str(tok._engine.to_str())
    hf.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    )
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokens = 0
    for start in range(0, len(captions), batch):
        tokens += sum(len(e.ids) for e in hf.encode_batch(captions[start : start + batch]))
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=100_000)
    parser.add_argument("--vocab-size", type=int, default=16384)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--dropout-captions", type=int, default=20_000)
    args = parser.parse_args()
    common = {
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }

    captions = synthetic_captions(args.captions)
    params = genkit.make_params("tokenizer", "bpe", {"vocab_size": args.vocab_size, "max_length": args.max_length})
    tok = genkit.build_component("tokenizer", params)
    _, wall, cpu = timed(lambda: tok.train(captions))
    print(
        json.dumps(
            {
                "bench": "tokenizer_train",
                "captions": len(captions),
                "vocab_size": args.vocab_size,
                "learned_tokens": tok.trained_vocab_size,
                "seconds": round(wall, 3),
                "cpu_seconds": round(cpu, 3),
                **common,
            }
        ),
        flush=True,
    )

    rates = {}
    for phase in ("cold", "warm"):
        tokens, wall, cpu = timed(lambda: encode_all(tok, captions, args.batch))
        rates[phase] = len(captions) / wall
        print(
            json.dumps(
                {
                    "bench": "tokenizer_encode",
                    "pass": phase,
                    "captions": len(captions),
                    "batch": args.batch,
                    "seconds": round(wall, 3),
                    "captions_per_s": round(rates[phase]),
                    "captions_per_cpu_s": round(len(captions) / cpu),
                    "tokens_per_caption": round(tokens / len(captions), 2),
                    "truncated": tok.truncated,
                    **common,
                }
            ),
            flush=True,
        )

    subset = captions[: args.dropout_captions]
    tokens, wall, cpu = timed(lambda: encode_all(tok, subset, args.batch, dropout=True, seed=0))
    print(
        json.dumps(
            {
                "bench": "tokenizer_encode_dropout",
                "captions": len(subset),
                "batch": args.batch,
                "dropout": params.dropout,
                "seconds": round(wall, 3),
                "captions_per_s": round(len(subset) / wall),
                "captions_per_cpu_s": round(len(subset) / cpu),
                "tokens_per_caption": round(tokens / len(subset), 2),
                **common,
            }
        ),
        flush=True,
    )

    ref_tokens, wall, cpu = timed(lambda: hf_reference(tok, captions, args.batch))
    print(
        json.dumps(
            {
                "bench": "hf_encode_batch_reference",
                "captions": len(captions),
                "batch": args.batch,
                "seconds": round(wall, 3),
                "captions_per_s": round(len(captions) / wall),
                "captions_per_cpu_s": round(len(captions) / cpu),
                "tokens_per_caption": round(ref_tokens / len(captions), 2),
                "speedup": round(rates["warm"] * wall / len(captions), 2),
                **common,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

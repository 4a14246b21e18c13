"""``genkit eval RUN_DIR``: quality metrics of a finished run, as one JSON object."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "eval"
HELP = "measure a finished run: faithfulness, bits per image token, PSNR, codebook usage, reranker accuracy"
DESCRIPTION = """\
Print one JSON object (also written to RUN_DIR/eval.json) with: faithfulness (distinct validation captions
whose top-1 reranked sample has the right colour and shape, judged by the shapes generator's pixel checker),
faithfulness_first (same without reranking), candidates_faithful (share of every drawn candidate judged
faithful: what a random pick would score, far less noisy than faithfulness_first), unseen_captions (share of
those captions that no training item has: 1.0 with the shapes data's held_out option), per-attribute
accuracy (colour, shape, count; position and size over the captions that say them), val_bits_per_image_token
(prior), psnr and codebook_usage (autoencoder), reranker_top1 (in-batch text->image retrieval).

example:
  genkit eval runs/demo --captions 64 --candidates 16
  genkit eval runs/demo --seeds 3
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `genkit run`")
    parser.add_argument("--captions", type=int, default=64, help="distinct validation captions to judge (default 64)")
    parser.add_argument(
        "--candidates",
        type=int,
        help="candidates drawn per caption (default: the recipe's stages.sample.candidates, else 16)",
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="draw with N sampling seeds (--seed, --seed + 1, ...) and report the mean faithfulness figures, "
        "each seed's under per_seed (default 1; one seed's top-1 on 64 captions moves by several points)",
    )


def run(args: argparse.Namespace) -> int:
    from genkit.errors import InputError
    from genkit.evaluate import evaluate_run

    for option, value, low in (
        ("--captions", args.captions, 1),
        ("--candidates", args.candidates, 1),
        ("--seed", args.seed, 0),
        ("--seeds", args.seeds, 1),
    ):
        if value is not None and value < low:
            raise InputError(f"{option} {value}: must be at least {low}")

    report = evaluate_run(
        args.run_dir, captions=args.captions, candidates=args.candidates, seed=args.seed, seeds=args.seeds
    )
    text = json.dumps(report, indent=None, sort_keys=True)
    (args.run_dir / "eval.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(text)
    return 0

"""``genkit ablate RECIPE --vary KEY=V1,V2 ...``: run variants and compare them."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "ablate"
HELP = "run a recipe's variants (swap components, change keys) and compare them in one table"
DESCRIPTION = """\
Run every combination of the --vary values as its own run (OUT/<variant>/), reusing stages that are identical
between variants (e.g. the autoencoder when only the prior changes), evaluate each with `genkit eval`, and
write OUT/ablation.md, OUT/ablation.csv (metrics and wall-clock) and OUT/ablation.png (bar chart).

A bare kind (autoencoder=vqvae) comes with that kind's own defaults (for the first-party autoencoders, the
paper's sizes); to compare at a recipe's sizes, vary whole sections in YAML flow style (second example).

examples:
  genkit ablate shapes/demo --vary autoencoder=dvae,vqvae --out runs/ablate_ae
  genkit ablate shapes/demo --vary 'autoencoder={kind: dvae, codebook_size: 512},{kind: vqvae, codebook_size: 512}'
  genkit ablate shapes/demo --vary prior.attention=paper,full --steps-scale 0.5
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("recipe", help="recipe file or built-in name")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied to every variant")
    parser.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="values to compare (repeat for a grid: every combination runs); keys joined by ';' change "
        "together, e.g. 'prior.depth=2,4; stages.prior.steps=800,400' is two variants",
    )
    parser.add_argument(
        "--steps-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every setting counted in optimizer steps by F (e.g. 0.25 for a quick look): "
        "each stage's steps, warmup, log_every, validate_every and checkpoint_every, and component "
        "params declared as step counts (genkit.Steps, e.g. the dVAE's temperature_steps); applied "
        "after the overrides and --vary values, rounded, 0 stays 0 and a positive count stays >= 1",
    )
    parser.add_argument("--out", type=Path, help="ablation directory (default: runs/ablate_<recipe name>)")
    parser.add_argument("--captions", type=int, default=64, help="held-out captions judged per variant")
    parser.add_argument(
        "--candidates", type=int, help="candidates per caption in the evaluation (default: the recipe's)"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="sampling seeds per variant's evaluation (0 .. N-1); the table holds the means (default 1)",
    )


def run(args: argparse.Namespace) -> int:
    from genkit.ablate import check_steps_scale, run_ablation
    from genkit.recipe import load_recipe

    check_steps_scale(args.steps_scale)
    out = args.out or Path("runs") / f"ablate_{load_recipe(args.recipe, args.overrides).name}"
    out.mkdir(parents=True, exist_ok=True)
    run_ablation(
        args.recipe,
        args.vary,
        out,
        steps_scale=args.steps_scale,
        base_overrides=args.overrides,
        eval_captions=args.captions,
        eval_candidates=args.candidates,
        eval_seeds=args.seeds,
    )
    print((out / "ablation.md").read_text(encoding="utf-8"))
    print(f"wrote {out / 'ablation.md'}, {out / 'ablation.csv'} and {out / 'ablation.png'}")
    return 0

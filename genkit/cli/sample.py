"""``genkit sample RUN_DIR PROMPT ... --out FILE.png``: draw, rerank and save images for prompts."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

from genkit.errors import InputError

NAME = "sample"
HELP = "draw images for prompts with a finished run, rerank them, and write a PNG grid"
DESCRIPTION = """\
Encode each prompt, draw N candidates with the prior (KV cache), decode them with the autoencoder, rerank them
with the reranker (if the run has one) and write one PNG grid (a row per prompt, best first, score under each),
the individual images in a folder beside it, and a JSON file of scores. Options left unset come from the run's
stages.sample section (RUN_DIR/recipe.resolved.yaml), else the built-in defaults. Same prompts, options and
--seed give the same pixels.

With --prime IMAGE --rows R the top R token rows of IMAGE are kept and the rest is completed (the paper's
image completion).

examples:
  genkit sample runs/demo "a red circle" "a small blue square at the top left" --out samples.png
  genkit sample runs/demo "a green triangle" --candidates 64 --keep 8 --temperature 0.9 --seed 3 --out g.png
  genkit sample runs/demo "a red circle" --prime photo.png --rows 4 --out completed.png
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `genkit run` (uses RUN_DIR/export)")
    parser.add_argument("prompts", nargs="+", metavar="PROMPT", help="captions to draw images for")
    parser.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG grid to write (default: samples.png)")
    parser.add_argument("--candidates", type=int,
                        help="candidates drawn per prompt (default: the run's stages.sample candidates, else 32)")
    parser.add_argument("--keep", type=int,
                        help="best candidates kept per prompt (default: the run's stages.sample keep, else 4)")
    parser.add_argument("--temperature", type=float,
                        help="sampling temperature (default: the run's stages.sample temperature, else 1.0)")
    parser.add_argument("--top-k", type=int,
                        help="keep only the k most likely image tokens (default: the run's stages.sample top_k, "
                        "else off)")
    parser.add_argument("--top-p", type=float,
                        help="nucleus sampling mass in (0, 1] (default: the run's stages.sample top_p, else off)")
    parser.add_argument("--guidance", type=float,
                        help="classifier-free guidance scale, 0 = off (default: the run's stages.sample guidance, "
                        "else 0)")
    parser.add_argument("--seed", type=int,
                        help="sampling seed (default: the run's stages.sample seed, else the recipe's seed, else 0)")
    parser.add_argument("--prime", type=Path, metavar="IMAGE", help="complete this image: keep its top --rows token rows")
    parser.add_argument("--rows", type=int, help="token rows of --prime to keep (default: half the grid)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def recipe_sample_defaults(run_dir: Path) -> dict:
    """``stages.sample`` of the run's resolved recipe (empty when it has none), plus its seed."""
    path = run_dir / "recipe.resolved.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    defaults = dict((data.get("stages") or {}).get("sample") or {})
    defaults.setdefault("seed", data.get("seed", 0))
    if defaults.get("seed") is None:
        defaults["seed"] = data.get("seed", 0)
    return defaults


def load_prime(path: Path, size: int):
    from genkit.data.preprocess import UnreadableImage, load_rgb, resize_short_side, square_crop, to_uint8

    try:
        return square_crop(to_uint8(resize_short_side(load_rgb(path), size)), size)
    except UnreadableImage as exc:
        raise InputError(f"{path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from genkit.sample import Pipeline, write_samples

    defaults = recipe_sample_defaults(args.run_dir)
    pick = lambda name, fallback: getattr(args, name) if getattr(args, name) is not None else defaults.get(name, fallback)  # noqa: E731
    settings = {
        "candidates": pick("candidates", 32), "keep": pick("keep", 4), "temperature": pick("temperature", 1.0),
        "top_k": pick("top_k", None), "top_p": pick("top_p", None), "guidance": pick("guidance", 0.0),
        "seed": pick("seed", 0),
    }
    pipeline = Pipeline.from_run(args.run_dir)
    prime = None
    if args.prime is not None:
        prime = load_prime(args.prime, pipeline.autoencoder.image_size)
        settings.update(prime=str(args.prime), rows=args.rows or pipeline.autoencoder.grid[0] // 2)
    elif args.rows is not None:
        raise InputError("--rows needs --prime IMAGE")
    from genkit.train.metrics import WorkProgress

    started = time.perf_counter()
    with WorkProgress("decoding", enabled=not args.no_progress) as progress:
        results = pipeline.sample(
            args.prompts, prime_image=prime, prime_rows=settings.get("rows"), progress=progress,
            **{k: settings[k] for k in ("candidates", "keep", "temperature", "top_k", "top_p", "guidance", "seed")},
        )
    data = write_samples(results, args.out, {**settings, "seconds": round(time.perf_counter() - started, 2)})
    print(f"wrote {args.out} ({len(results)} prompts x {settings['keep']} best of {settings['candidates']}), "
          f"images in {args.out.with_suffix('')}/, scores in {args.out.with_suffix('.json')}")
    for entry in data["prompts"]:
        best = entry["kept"][0]
        score = "" if best["score"] is None else f" (score {best['score']:.3f})"
        print(f"  {entry['prompt']!r}: best = candidate {best['candidate']}{score}")
    return 0

"""``genkit sample RUN_DIR PROMPT ... --out FILE.png``: draw, rerank and save images for prompts."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from genkit.errors import InputError

if TYPE_CHECKING:
    import torch

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

Nothing is lost: --out must end in .png; nothing is written inside an export or a checkpoints folder (even with
--force); the grid, the images and the JSON only replace earlier output of `genkit sample` (re-running onto the
same --out just works), anything else needs --force. Every option is checked before anything is drawn: a bad
value is one line naming it (exit 2). --keep above --candidates is an error; a --keep that comes from the
defaults is lowered to --candidates, with a note. A prompt must have text and at most 1,000 characters; one
longer than the tokenizer's max_length tokens is drawn from its first max_length tokens, with a warning.

examples:
  genkit sample runs/demo "a red circle" "a small blue square at the top left" --out samples.png
  genkit sample runs/demo "a green triangle" --candidates 64 --keep 8 --temperature 0.9 --seed 3 --out g.png
  genkit sample runs/demo "a red circle" --prime photo.png --rows 4 --out completed.png
"""


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a run directory written by `genkit run` (uses RUN_DIR/export)")
    parser.add_argument("prompts", nargs="+", metavar="PROMPT", help="captions to draw images for")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("samples.png"),
        help="PNG grid to write (default: samples.png); the images go in a folder beside it (its "
        "name without .png) and the scores in its .json",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace files at --out (and beside it) that `genkit sample` did not write; never "
        "anything inside an export or checkpoints folder",
    )
    parser.add_argument(
        "--candidates",
        type=int,
        help="candidates drawn per prompt (default: the run's stages.sample candidates, else 32)",
    )
    parser.add_argument(
        "--keep", type=int, help="best candidates kept per prompt (default: the run's stages.sample keep, else 4)"
    )
    parser.add_argument(
        "--temperature",
        type=float,
        help="sampling temperature (default: the run's stages.sample temperature, else 1.0)",
    )
    parser.add_argument(
        "--top-k",
        type=int,
        help="keep only the k most likely image tokens (default: the run's stages.sample top_k, else off)",
    )
    parser.add_argument(
        "--top-p", type=float, help="nucleus sampling mass in (0, 1] (default: the run's stages.sample top_p, else off)"
    )
    parser.add_argument(
        "--guidance",
        type=float,
        help="classifier-free guidance scale, 0 = off (default: the run's stages.sample guidance, else 0)",
    )
    parser.add_argument(
        "--seed", type=int, help="sampling seed (default: the run's stages.sample seed, else the recipe's seed, else 0)"
    )
    parser.add_argument(
        "--prime", type=Path, metavar="IMAGE", help="complete this image: keep its top --rows token rows"
    )
    parser.add_argument("--rows", type=int, help="token rows of --prime to keep (default: half the grid)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the prior's blocks first (faster decode steps after a compilation of seconds to "
        "minutes; eager with a warning if compilation fails)",
    )


RESOLVED = "recipe.resolved.yaml"
OPTIONS = ("candidates", "keep", "temperature", "top_k", "top_p", "guidance", "seed")


def recipe_sample_defaults(run_dir: Path) -> dict[str, Any]:
    """``stages.sample`` of the run's resolved recipe (empty when it has none), plus its seed."""
    path = run_dir / RESOLVED
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{path}: cannot read the run's recipe ({detail})") from None
    stages = data.get("stages") or {} if isinstance(data, dict) else None
    section = stages.get("sample") or {} if isinstance(stages, dict) else None
    if not isinstance(section, dict):
        raise InputError(f"{path}: not a genkit recipe (expected a mapping with stages.sample)")
    defaults = dict(section)
    defaults.setdefault("seed", data.get("seed", 0))
    if defaults.get("seed") is None:
        defaults["seed"] = data.get("seed", 0)
    return defaults


def load_prime(path: Path, size: int) -> torch.Tensor:
    from genkit.data.preprocess import UnreadableImage, load_rgb, resize_short_side, square_crop, to_uint8

    try:
        return square_crop(to_uint8(resize_short_side(load_rgb(path), size)), size)
    except UnreadableImage as exc:
        raise InputError(f"--prime {path}: {exc}") from None


def cli_name(argument: str) -> str:
    return "--rows" if argument == "prime_rows" else "--" + argument.replace("_", "-")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from genkit.sample import Pipeline, write_samples
    from genkit.sample.output import check_outputs, planned_images
    from genkit.sample.pipeline import check_prompts, check_sample_options

    if not args.run_dir.is_dir():
        raise InputError(f"{args.run_dir}: no such run directory")
    defaults = recipe_sample_defaults(args.run_dir)
    given = {name for name in OPTIONS if getattr(args, name) is not None}
    fallbacks = {
        "candidates": 32,
        "keep": 4,
        "temperature": 1.0,
        "top_k": None,
        "top_p": None,
        "guidance": 0.0,
        "seed": 0,
    }
    # raw values (command line, recipe, fallbacks): check_sample_options checks them below
    settings: dict[str, Any] = {
        name: getattr(args, name) if name in given else defaults.get(name, fallbacks[name]) for name in OPTIONS
    }

    def name(argument: str, value: Any) -> str:
        """The option as the user gave it: on the command line, in the run's recipe, or a built-in default."""
        if argument in given or argument == "prime_rows":
            return f"{cli_name(argument)} {value}"
        if argument in defaults:
            return f"stages.sample.{argument} {value} (from {args.run_dir / RESOLVED})"
        return f"{cli_name(argument)} {value} (the default)"

    # checked before anything is loaded or drawn: bad input costs nothing and changes nothing
    prompts = check_prompts(args.prompts, label=lambda index: f"prompt {index + 1}")
    if (
        "keep" not in given
        and _is_whole(settings["keep"])
        and _is_whole(settings["candidates"])
        and settings["candidates"] >= 1
        and settings["keep"] > settings["candidates"]
    ):
        print(
            f"note: {name('keep', settings['keep'])} is more than {name('candidates', settings['candidates'])}; "
            f"keeping {settings['candidates']}",
            file=sys.stderr,
        )
        settings["keep"] = settings["candidates"]
    check_sample_options(**settings, name=name)
    if args.rows is not None and args.prime is None:
        raise InputError(f"--rows needs --prime IMAGE (the image whose top {args.rows} token rows are kept)")
    check_outputs(
        args.out, planned_images(prompts, settings["keep"]), run_dir=args.run_dir, force=args.force, option="--out"
    )

    pipeline = Pipeline.from_run(args.run_dir)
    if args.compile:
        pipeline.compile_prior("--compile")
    prime = None
    if args.prime is not None:
        rows = args.rows if args.rows is not None else pipeline.autoencoder.grid[0] // 2
        pipeline.check_prime_rows(rows, name=name)
        prime = load_prime(args.prime, pipeline.autoencoder.image_size)
        settings.update(prime=str(args.prime), rows=rows)
    for message in pipeline.prompt_warnings(prompts, label=lambda index: f"prompt {index + 1}"):
        warn(message)
    from genkit.train.metrics import WorkProgress

    started = time.perf_counter()
    with WorkProgress("decoding", enabled=not args.no_progress) as progress:
        results = pipeline.sample(
            prompts,
            prime_image=prime,
            prime_rows=settings.get("rows"),
            progress=progress,
            warn=lambda message: None,  # said above, in the command line's words
            **{k: settings[k] for k in OPTIONS},
        )
    data = write_samples(
        results,
        args.out,
        {**settings, "seconds": round(time.perf_counter() - started, 2)},
        force=args.force,
        run_dir=args.run_dir,
    )
    print(
        f"wrote {args.out} ({len(results)} prompts x {settings['keep']} best of {settings['candidates']}), "
        f"images in {args.out.with_suffix('')}/, scores in {args.out.with_suffix('.json')}"
    )
    for entry in data["prompts"]:
        best = entry["kept"][0]
        score = "" if best["score"] is None else f" (score {best['score']:.3f})"
        print(f"  {entry['prompt']!r}: best = candidate {best['candidate']}{score}")
    return 0


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)

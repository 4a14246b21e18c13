"""``genkit import vqgan CKPT --config YAML --out DIR``: a taming-transformers VQGAN as a genkit export.

The YAML (taming's, ``model.target`` VQModel or GumbelVQ) gives the ``vqgan`` params; the checkpoint's
``state_dict`` (read without executing pickle, see :mod:`genkit_vqgan.checkpoint`) loads key for key, after
dropping the training-only ``loss.*`` entries (taming's discriminator and LPIPS weights). Missing, unexpected or
mis-shaped keys are one-line errors naming the key. Saved with ``genkit.save_component`` (safetensors).

``genkit import`` is a command group shared by the plugins that import weights (dvae's ``openai-dvae``, this
plugin's ``vqgan``): :func:`add_import_command` adds ``vqgan`` to it (``cli.add_subcommand``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, cast

import genkit
from genkit_vqgan.checkpoint import read_lightning_checkpoint, read_taming_config
from genkit_vqgan.params import VQGANParams

SOURCE = "vqgan"
DROPPED_PREFIXES = ("loss.",)


def import_vqgan(
    checkpoint: str | Path, config: str | Path, out: str | Path, image_size: int | None = None
) -> tuple[Any, Any, list[str]]:
    """Convert ``checkpoint`` (+ its YAML ``config``) into ``out/autoencoder``; returns ``(model, params,
    skipped globals)``. ``image_size`` defaults to the config's ``resolution``."""
    ckpt_path = Path(checkpoint)
    sizes = read_taming_config(config)
    ckpt = read_lightning_checkpoint(ckpt_path)
    try:
        params = cast(VQGANParams, genkit.make_params("autoencoder", "vqgan", sizes))
    except genkit.GenkitError as exc:
        raise genkit.ExportError(f"{config}: {str(exc).splitlines()[0]}") from None
    context = genkit.BuildContext(image_size=image_size or params.resolution)
    model = genkit.build_component("autoencoder", params, context)
    state = {k: v for k, v in ckpt.state_dict.items() if not k.startswith(DROPPED_PREFIXES)}
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing:
        raise genkit.ExportError(f"{ckpt_path}: missing key state_dict.{missing[0]} ({len(missing)} missing)")
    if unexpected:
        raise genkit.ExportError(f"{ckpt_path}: unexpected key state_dict.{unexpected[0]} ({len(unexpected)} unknown)")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise genkit.ExportError(
                f"{ckpt_path}: state_dict.{key} has shape {tuple(value.shape)}, the config gives "
                f"{tuple(expected[key].shape)}"
            )
    model.load_state_dict({k: v.float().contiguous() for k, v in state.items()})
    genkit.save_component(
        out, "autoencoder", model, params, context.with_(image_vocab_size=model.vocab_size, image_grid=model.grid)
    )
    return model, params, ckpt.skipped


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="the Lightning .ckpt (only its state_dict is used)")
    parser.add_argument("--config", required=True, help="taming's YAML config of that checkpoint")
    parser.add_argument("--out", required=True, help="export directory to write (DIR/autoencoder)")
    parser.add_argument("--image-size", type=int, default=None, help="image side (default: the config's resolution)")


def run(args: argparse.Namespace) -> int:
    if args.image_size is not None and args.image_size < 1:
        raise genkit.InputError(f"--image-size: must be positive, got {args.image_size}")
    model, params, skipped = import_vqgan(args.checkpoint, args.config, args.out, args.image_size)
    if skipped:
        print(f"skipped (not unpickled) outside state_dict: {', '.join(skipped)}")
    print(
        f"imported {SOURCE} ({params.quantizer}): {model.vocab_size} codes, grid {model.grid[0]}x{model.grid[1]} "
        f"at {model.image_size} px -> {Path(args.out) / 'autoencoder'}"
    )
    return 0


def add_import_command(cli: Any) -> None:
    """``genkit import vqgan``: a subcommand of the ``import`` group genkit's plugins share."""
    cli.add_subcommand(
        "import",
        SOURCE,
        help="a taming-transformers VQModel/GumbelVQ (Lightning .ckpt + its YAML)",
        setup=setup,
        run=run,
        description="Import a taming-transformers VQGAN (Lightning .ckpt + YAML) without executing pickled code.",
        group_help="import released weights as a genkit export, without executing pickled code",
    )

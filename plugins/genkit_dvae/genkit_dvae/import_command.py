"""``genkit import openai-dvae ENCODER.pkl DECODER.pkl --out DIR``: OpenAI's dVAE as a genkit export.

The sizes (hidden width, groups, blocks per group, codebook size and width) are read from the checkpoints'
tensor shapes; the weights map key for key (``encoder.`` / ``decoder.`` + OpenAI's names) onto a ``dvae`` built
with those sizes, and are saved with ``genkit.save_component`` (safetensors).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import torch

import genkit
from genkit_dvae.openai_checkpoint import StandIn, flatten_parameters, read_checkpoint

SOURCE = "openai-dvae"


def _count(children: dict, pattern: str) -> int:
    return sum(1 for name in children if re.fullmatch(pattern, name))


def _shape(tensors: dict[str, torch.Tensor], key: str, source: Path) -> tuple[int, ...]:
    if key not in tensors:
        raise genkit.ExportError(f"{source}: missing parameter {key}")
    return tuple(tensors[key].shape)


def infer_sizes(encoder: StandIn, decoder: StandIn, enc_path: Path, dec_path: Path) -> dict[str, Any]:
    """The ``dvae`` params that reproduce OpenAI's modules, read from their structure and tensor shapes."""
    for node, path, expected in (
        (encoder, enc_path, "dall_e.encoder.Encoder"),
        (decoder, dec_path, "dall_e.decoder.Decoder"),
    ):
        if node.qualname != expected:
            raise genkit.ExportError(f"{path}: expected a pickled {expected}, found {node.qualname}")
    enc, dec = flatten_parameters(encoder), flatten_parameters(decoder)
    blocks = encoder.children().get("blocks")
    if blocks is None:
        raise genkit.ExportError(f"{enc_path}: no 'blocks' module in the encoder")
    groups = _count(blocks.children(), r"group_\d+")
    group_1 = blocks.children().get("group_1")
    if groups < 1 or group_1 is None:
        raise genkit.ExportError(f"{enc_path}: no group_1 in encoder.blocks")
    per_group = _count(group_1.children(), r"block_\d+")
    hidden, channels = _shape(enc, "blocks.input.w", enc_path)[:2]
    codebook_size = _shape(enc, "blocks.output.conv.w", enc_path)[0]
    widths = [_shape(enc, f"blocks.group_{g}.block_1.res_path.conv_4.w", enc_path)[0] for g in range(1, groups + 1)]
    if channels != 3 or any(w % hidden for w in widths):
        raise genkit.ExportError(f"{enc_path}: unsupported layout (input channels {channels}, group widths {widths})")
    codebook_dim, dec_vocab = _shape(dec, "blocks.input.w", dec_path)[:2]
    out_channels = _shape(dec, "blocks.output.conv.w", dec_path)[0]
    if dec_vocab != codebook_size or out_channels != 6:
        raise genkit.ExportError(
            f"{dec_path}: decoder takes {dec_vocab} codes and outputs {out_channels} channels; "
            f"the encoder has {codebook_size} codes and genkit needs 6 output channels"
        )
    return {
        "codebook_size": codebook_size,
        "downsample": 2 ** (groups - 1),
        "hidden": hidden,
        "multipliers": [w // hidden for w in widths],
        "blocks_per_group": per_group,
        "codebook_dim": codebook_dim,
    }


def import_openai_dvae(
    encoder_path: str | Path, decoder_path: str | Path, out: str | Path, image_size: int = 256
) -> tuple[Any, Any, genkit.BuildContext]:
    """Convert the two checkpoints into ``out/autoencoder``; returns ``(model, params, context)``."""
    enc_path, dec_path = Path(encoder_path), Path(decoder_path)
    encoder, decoder = read_checkpoint(enc_path), read_checkpoint(dec_path)
    sizes = infer_sizes(encoder, decoder, enc_path, dec_path)
    params = genkit.make_params("autoencoder", "dvae", sizes)
    context = genkit.BuildContext(image_size=image_size)
    model = genkit.build_component("autoencoder", params, context)
    state = {f"encoder.{k}": v for k, v in flatten_parameters(encoder).items()}
    state.update({f"decoder.{k}": v for k, v in flatten_parameters(decoder).items()})
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise genkit.ExportError(
            f"{enc_path}, {dec_path}: layout differs from genkit's dvae (missing: {', '.join(missing[:3]) or 'none'}; "
            f"unexpected: {', '.join(unexpected[:3]) or 'none'})"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise genkit.ExportError(
                f"{key}: shape {tuple(value.shape)} differs from genkit's {tuple(expected[key].shape)}"
            )
    model.load_state_dict({k: v.float().contiguous() for k, v in state.items()})
    genkit.save_component(
        out, "autoencoder", model, params, context.with_(image_vocab_size=model.vocab_size, image_grid=model.grid)
    )
    return model, params, context


def setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("encoder", help="OpenAI's encoder.pkl")
    parser.add_argument("decoder", help="OpenAI's decoder.pkl")
    parser.add_argument("--out", required=True, help="export directory to write (DIR/autoencoder)")
    parser.add_argument("--image-size", type=int, default=256, help="image side the model is used at (default 256)")


def run(args: argparse.Namespace) -> int:
    if args.image_size < 1:
        raise genkit.InputError(f"--image-size: must be positive, got {args.image_size}")
    model, params, _ = import_openai_dvae(args.encoder, args.decoder, args.out, args.image_size)
    print(
        f"imported {SOURCE}: {model.vocab_size} codes, grid {model.grid[0]}x{model.grid[1]} at "
        f"{model.image_size} px, hidden {params.hidden} -> {Path(args.out) / 'autoencoder'}"
    )
    return 0


def add_import_command(cli: Any) -> None:
    cli.add_subcommand(
        "import",
        SOURCE,
        help="OpenAI's released dVAE (encoder.pkl, decoder.pkl)",
        setup=setup,
        run=run,
        description="Import OpenAI's released dVAE (encoder.pkl, decoder.pkl) without executing pickled code.",
        group_help="import released weights as a genkit export, without executing pickled code",
    )

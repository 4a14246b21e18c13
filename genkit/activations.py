"""The activation memory of one training micro-batch of a transformer prior, from its structure (no forward run).

:func:`transformer_shape` reads a prior (built on the meta device, or real) that is made the way genkit's
transformer priors are: ``blocks`` of pre-LN ``attention`` (fused ``qkv`` projection) and ``mlp`` (``fc``, then
``proj``) branches on a residual stream, a ``final_norm``, and output heads (``text_head`` over the caption
positions, ``image_head`` over the image positions). Any other prior gets ``None``: no activation estimate.

:func:`activation_bytes` counts what autograd keeps for the backward pass, per token of the stream (``d`` width,
``H`` heads x head size, ``F`` MLP hidden size; ``s`` bytes of the residual stream, always fp32; ``c`` bytes of
a matmul input or output: 4 in fp32, 2 under bf16/fp16 autocast):

- a block: its input and the stream after attention (``2 s d``), the two LayerNorm outputs as the linears save
  them (``2 c d``), the fused QKV (``3 c H``), the attention output (``c H``: a memory-efficient kernel keeps it
  and its log-sum-exp, never the ``S x S`` weights), the MLP pre-activation and its GELU (``2 c F``), plus the
  LayerNorm statistics and log-sum-exp (``16 + 4 x heads`` bytes). fp32: ``16d + 16H + 8F``; 16-bit:
  ``12d + 8H + 4F`` bytes;
- a checkpointed block: only its input (``s d``);
- the final LayerNorm's output (``c d``) and, per head, its fp32 log-probabilities (``4 V`` per token it reads).

On top of what is kept, the backward pass needs for a while (``transient``): the gradients of the largest head's
log-probabilities and logits (``(8 + c) V`` per token, ``c`` only under autocast), or, with checkpointing, one
block recomputed whole plus the gradient of its MLP hidden layer, whichever is larger.

Checked against a CPU measurement (``benchmarks/bench_memory.py``, ``tests/core/test_activation_memory.py``): a
training step's measured peak is within 25% of :func:`genkit.sizing.planned_peak` on three configurations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genkit.helpers.checkpointing import checkpointed_blocks

STREAM_BYTES = 4  # the residual stream stays fp32 under autocast (parameters and LayerNorm in fp32)


def compute_bytes(precision: str) -> int:
    """Bytes of a matmul operand: 4 for ``fp32``, 2 for ``bf16`` and ``fp16`` (autocast)."""
    return 4 if precision == "fp32" else 2


@dataclass(frozen=True)
class TransformerShape:
    """What the activation memory of a transformer prior depends on (see the module docstring)."""

    width: int
    attention_width: int  # heads x head size
    heads: int
    mlp_hidden: int
    sequence: int  # positions of the stream one training example runs through the blocks
    outputs: tuple[tuple[int, int], ...]  # (positions read, vocabulary) of each output head
    checkpointed: tuple[bool, ...]  # per block: the prior's own checkpoint_activations setting

    @property
    def depth(self) -> int:
        return len(self.checkpointed)


def transformer_shape(prior: Any) -> TransformerShape | None:
    """The prior's :class:`TransformerShape`, or ``None`` when it is not built like genkit's transformer priors."""
    try:
        blocks = list(prior.blocks)
        block = blocks[0]
        attention_width = int(block.attention.qkv.out_features) // 3
        heads = int(getattr(block.attention, "heads", 1))
        mlp_hidden = int(block.mlp.fc.out_features)
        width = int(prior.final_norm.normalized_shape[0])
        text = int(prior.text_length)
        image = int(prior.grid[0]) * int(prior.grid[1])
    except (AttributeError, IndexError, TypeError):
        return None
    sequence = int(getattr(prior, "sequence_length", text + image))
    outputs = [(image, int(prior.image_head.out_features))]
    text_head = getattr(prior, "text_head", None)
    if text_head is not None and text > 0:
        outputs.insert(0, (text, int(text_head.out_features)))
    params = getattr(prior, "params", None)
    setting = getattr(params, "checkpoint_activations", False)
    return TransformerShape(
        width,
        attention_width,
        heads,
        mlp_hidden,
        sequence,
        tuple(outputs),
        tuple(checkpointed_blocks(len(blocks), setting)),
    )


def block_bytes_per_token(shape: TransformerShape, precision: str) -> float:
    """Bytes one (not checkpointed) block keeps per token for the backward pass."""
    c, d, h, f = compute_bytes(precision), shape.width, shape.attention_width, shape.mlp_hidden
    return 2 * STREAM_BYTES * d + c * (2 * d + 4 * h + 2 * f) + 16 + 4 * shape.heads


def activation_bytes(
    shape: TransformerShape, micro_batch: int, precision: str, checkpointing: bool | int | None = None
) -> dict[str, float]:
    """``{"kept": bytes, "transient": bytes}`` of one micro-batch of ``micro_batch`` examples (see the module
    docstring). ``checkpointing`` replaces the prior's own setting (``None``: keep it; ``false``, ``true``, N)."""
    flags = shape.checkpointed if checkpointing is None else tuple(checkpointed_blocks(shape.depth, checkpointing))
    c, d, tokens = compute_bytes(precision), shape.width, micro_batch * shape.sequence
    block = block_bytes_per_token(shape, precision)
    kept_per_token = sum(STREAM_BYTES * d if checkpointed else block for checkpointed in flags) + c * d
    heads = sum(positions * vocab * 4 for positions, vocab in shape.outputs)
    head_transient = max((positions * vocab for positions, vocab in shape.outputs), default=0) * (
        8 + (c if c < 4 else 0)
    )
    recompute = (block + c * shape.mlp_hidden) * tokens if any(flags) else 0.0
    return {
        "kept": kept_per_token * tokens + heads * micro_batch,
        "transient": max(head_transient * micro_batch, recompute),
    }

"""Linear layers of a CPU decode step: a few rows, no autograd, the weights read from memory at every step.

:func:`decode_step_linear` is ``layer(x)`` everywhere. On the CPU, without autograd and with at most
``DECODE_ROWS`` rows (the candidates of one decode step), it multiplies by a copy of the weight prepared once for
that row count:

- fp32 with MKL: MKL's packed GEMM format (``torch.ops.mkl._mkl_linear``, an internal op: the one
  torch.compile's CPU freezing pass puts in place of fp32 linears). Checked once per process against
  ``F.linear``; if it is missing or disagrees, the next path runs.
- otherwise: a contiguous ``W^T`` and ``torch.addmm``.

Inside ``torch.compile`` (``compile: true`` for sampling) it is plain ``F.linear``: inductor picks the kernels.

Measured on a 2-core Xeon with torch 2.13 (2 threads; the benchmark prior, width 256, 4 blocks, sampling 4 rows
at 8x8; 12 interleaved whole samples each): 1.27-1.30 ms per step packed against 1.40-1.43 ms with ``W^T``;
``F.linear`` is slower than both at these shapes. A step reads all the weights (13 MB here), so it is bound by
memory and per-call overhead, not by arithmetic. The prepared copy is renewed when the weight changes (its
storage or version counter) or the row count changes. It costs about one more copy of the linear weights in
resident memory; MKL reserves a fixed ~8 MB of address space per packed matrix on top, which it does not touch.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

DECODE_ROWS = 16  # at most this many rows (candidates in one decode step) take the prepared-weight path


def decode_step_linear(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` (same values up to float rounding); the decode-step fast path is described in the module."""
    rows = x.numel() // x.shape[-1] if x.shape[-1] else 0
    if (
        x.device.type != "cpu"
        or rows == 0
        or rows > DECODE_ROWS
        or torch.is_grad_enabled()
        or torch.compiler.is_compiling()  # compiled code: inductor chooses its own linear kernels
    ):
        return F.linear(x, layer.weight, layer.bias)
    weight = layer.weight
    packed = weight.dtype == torch.float32 and x.dtype == torch.float32 and mkl_packed_available()
    key = (weight.data_ptr(), weight._version, rows if packed else 0, packed)
    prepared = getattr(layer, "_genkit_decode_weight", None)
    if prepared is None or prepared[0] != key:
        detached = weight.detach()
        copy = torch.ops.mkl._mkl_reorder_linear_weight(detached, rows) if packed else detached.t().contiguous()
        prepared = (key, copy)
        object.__setattr__(layer, "_genkit_decode_weight", prepared)  # as nn.Module stores a plain attribute
    flat = x.reshape(rows, x.shape[-1])
    if packed:
        out = torch.ops.mkl._mkl_linear(flat, prepared[1], weight, layer.bias, rows)
    elif layer.bias is None:
        out = flat @ prepared[1]
    else:
        out = torch.addmm(layer.bias, flat, prepared[1])
    return out.view(*x.shape[:-1], layer.out_features)


@lru_cache(maxsize=1)
def mkl_packed_available() -> bool:
    """Whether this torch build has MKL's packed linear and it computes ``F.linear`` (checked once, 3 shapes)."""
    if not torch.backends.mkl.is_available():
        return False
    try:
        generator = torch.Generator().manual_seed(0)
        for rows, n_in, n_out in ((1, 8, 5), (4, 33, 17), (DECODE_ROWS, 64, 48)):
            weight = torch.randn(n_out, n_in, generator=generator)
            bias = torch.randn(n_out, generator=generator)
            x = torch.randn(rows, n_in, generator=generator)
            packed = torch.ops.mkl._mkl_reorder_linear_weight(weight, rows)
            for b in (bias, None):
                got = torch.ops.mkl._mkl_linear(x, packed, weight, b, rows)
                if not torch.allclose(got, F.linear(x, weight, b), atol=1e-4, rtol=1e-4):
                    return False
    except (AttributeError, RuntimeError):
        return False
    return True

"""Plugin entry point (``[project.entry-points.genkit] sparse_transformer``): registers the prior and, on CUDA,
the xformers attention backend."""

from __future__ import annotations

import warnings
from typing import Any

import genkit
from genkit.helpers import prior_sizes
from genkit_sparse_transformer.params import SparseTransformerParams


def build_prior(params: SparseTransformerParams, context: genkit.BuildContext):
    """Build the prior for the recipe's tokenizer (text vocab and length) and autoencoder (image vocab and grid)."""
    from genkit_sparse_transformer.model import SparseTransformerPrior

    return SparseTransformerPrior(params, **prior_sizes(context))


@genkit.hookimpl
def genkit_register_components(register: Any) -> None:
    register(
        "prior",
        "sparse_transformer",
        params=SparseTransformerParams,
        build=build_prior,
        description="DALL-E's decoder-only transformer over [text ; image tokens] with row/column/conv sparse "
        "attention, KV-cache sampling, classifier-free guidance and completion.",
    )


@genkit.hookimpl
def genkit_select_attention(device: Any, dtype: Any, layout: Any) -> Any:
    """xformers memory-efficient attention on CUDA when xformers is installed and runs there (checked once per
    device and dtype, forward and backward); otherwise let genkit's SDPA answer, with a warning saying why.
    xformers is imported only here, only for a CUDA device."""
    if getattr(device, "type", None) != "cuda":
        return None
    try:
        from genkit_sparse_transformer.xformers_backend import XFormersAttention, unusable_reason
    except ImportError:
        return None
    reason = unusable_reason(device, dtype)
    if reason is not None:
        from genkit.accelerators import library_report

        kernels = library_report()["xformers_kernels"]  # e.g. built for another torch than the installed one
        warnings.warn(
            f"xformers attention cannot run on {device} in {dtype} ({reason}; xformers kernels: {kernels}); using SDPA",
            stacklevel=2,
        )
        return None
    return XFormersAttention(layout)

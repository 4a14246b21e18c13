"""genkit's built-in attention plugin: the SDPA backend, answering last so that every layout has a backend."""

from __future__ import annotations

from typing import Any

from genkit.attention.sdpa import SDPAAttention
from genkit.plugins.hookspecs import hookimpl


@hookimpl(trylast=True)
def genkit_select_attention(device: Any, dtype: Any, layout: Any) -> Any:
    """SDPA with a boolean mask works on every device and dtype."""
    return SDPAAttention(layout)

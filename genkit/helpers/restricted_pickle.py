"""Reading released checkpoints without executing them (public: ``genkit.helpers.TENSOR_GLOBALS``).

A pickle names the globals it calls. A restricted unpickler (``pickle.Unpickler.find_class`` overridden) answers
only from a table; :data:`TENSOR_GLOBALS` is the part every such table needs: rebuilding tensors (storages are
resolved by torch's own loader) and plain containers. A parameter comes back as a detached tensor; nothing else
is imported or called. The dvae plugin (OpenAI's pickles) and the vqgan plugin (Lightning checkpoints) add their
own entries.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch


def rebuild_parameter(data: torch.Tensor, requires_grad: bool, backward_hooks: Any, *state: Any) -> torch.Tensor:
    """``torch._utils._rebuild_parameter`` (and ``_with_state``) as a plain tensor: hooks and state dropped."""
    return data.detach()


TENSOR_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("torch", "device"): torch.device,
}

"""Compute precision of a stage: ``fp32``, ``bf16`` or ``fp16`` (autocast; parameters stay fp32)."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """``name`` is the recipe value; ``dtype`` the autocast dtype (``None`` for fp32)."""

    name: str

    @property
    def dtype(self) -> torch.dtype | None:
        return DTYPES[self.name]

    def autocast(self, device: torch.device) -> AbstractContextManager[object]:
        """Autocast to ``dtype`` on ``device``: matmuls and convolutions run in low precision, while
        normalisation, softmax and losses stay fp32 (torch's autocast lists), and so do the parameters."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def get_precision(name: str) -> Precision:
    if name not in DTYPES:
        from genkit.errors import InputError

        raise InputError(f"precision {name!r}: expected one of {', '.join(DTYPES)}")
    return Precision(name)

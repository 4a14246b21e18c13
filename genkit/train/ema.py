"""Exponential moving average of a model's parameters (the export uses the EMA weights when enabled)."""

from __future__ import annotations

import torch
from torch import nn


class ParameterEMA:
    """``shadow = decay * shadow + (1 - decay) * param`` after each applied step, in fp32 (shards under FSDP2)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.names = [name for name, p in model.named_parameters() if p.requires_grad]
        params = dict(model.named_parameters())
        self.shadow = {name: params[name].detach().float().clone() for name in self.names}
        self._params = [params[name] for name in self.names]

    @torch.no_grad()
    def update(self) -> None:
        shadows = [self.shadow[name] for name in self.names]
        torch._foreach_lerp_(shadows, [p.detach().float() for p in self._params], 1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.names) - set(state)
        if missing:
            raise ValueError(f"EMA state lacks {', '.join(sorted(missing)[:3])}")
        for name in self.names:
            self.shadow[name].copy_(state[name])

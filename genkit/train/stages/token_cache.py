"""Encode a split's images to tokens once with the frozen autoencoder (argmax) and cache them on disk.

``RUN/prior/tokens_{split}_{digest}.safetensors`` holds ``tokens`` (``int32[N, h, w]``); ``digest`` identifies the
autoencoder export and the data settings, so a retrained autoencoder or other data never reuses stale tokens.
Rank 0 encodes and writes (atomically); the other ranks wait and read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from genkit.distributed.env import barrier
from genkit.train.metrics import WorkProgress
from genkit.train.stages.common import PipelineState, role_digest

ENCODE_BATCH = 64


def cache_path(state: PipelineState, stage: str, split: str) -> Path:
    data = state.recipe.data.model_dump(mode="json")
    key = json.dumps({"ae": role_digest(state, "autoencoder"), "data": data, "split": split}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return state.run_dir / stage / f"tokens_{split}_{digest}.safetensors"


@torch.no_grad()
def encode_split(autoencoder: Any, split: Any, device: torch.device, description: str = "encoding",
                 progress: bool = True) -> torch.Tensor:
    chunks = []
    with WorkProgress(description, progress) as advance:
        for start in range(0, len(split), ENCODE_BATCH):
            images = torch.stack([split[i].image for i in range(start, min(len(split), start + ENCODE_BATCH))])
            chunks.append(autoencoder.encode(images.to(device)).to(torch.int32).cpu())
            if advance is not None:
                advance(min(len(split), start + ENCODE_BATCH), len(split))
    return torch.cat(chunks)


def image_tokens(state: PipelineState, autoencoder: Any, split_name: str, stage: str = "prior") -> torch.Tensor:
    """``LongTensor[N, h, w]``: the split's images as tokens, from the cache or encoded now."""
    from safetensors.torch import load_file, save_file

    path = cache_path(state, stage, split_name)
    if state.env.is_main and not path.is_file():
        tokens = encode_split(autoencoder, state.dataset.split(split_name), state.env.device,
                              f"{stage}: encoding the {split_name} split", state.progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        save_file({"tokens": tokens.contiguous()}, str(tmp))
        os.replace(tmp, path)
    barrier(state.env)
    return load_file(str(path))["tokens"].long().to(state.env.device)

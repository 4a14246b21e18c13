"""Write sampling results: one PNG grid (a row per prompt, best first, score under each), the individual
images, and a JSON file of scores."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import torch

from genkit.images import save_image_grid, tensor_to_pil
from genkit.sample.pipeline import PromptSamples


def slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "prompt"


def write_samples(results: Sequence[PromptSamples], grid_path: str | Path, settings: dict[str, Any], scale: int = 4) -> dict:
    """Write ``grid_path`` (PNG), ``<stem>/NN_slug_rank.png`` files and ``<stem>.json``; return the JSON data."""
    grid_path = Path(grid_path)
    folder = grid_path.with_suffix("")
    folder.mkdir(parents=True, exist_ok=True)
    keep = max(len(r.indices) for r in results)
    tiles, labels, entries = [], [], []
    for p, result in enumerate(results):
        kept = []
        for rank in range(keep):
            if rank < len(result.indices):
                image = result.images[rank]
                score = None if result.scores is None else result.scores[rank]
                name = f"{p:02d}_{slug(result.prompt)}_{rank}.png"
                tensor_to_pil(image).save(folder / name)
                kept.append({"rank": rank, "file": f"{folder.name}/{name}", "score": score,
                             "candidate": result.indices[rank]})
                score_text = "" if score is None else f" {score:.3f}"
                labels.append(f"{result.prompt}\n#1{score_text}" if rank == 0 else f"#{rank + 1}{score_text}")
                tiles.append(image)
            else:
                tiles.append(torch.ones_like(result.images[0]))
                labels.append("")
        entries.append({"prompt": result.prompt, "candidates": result.candidates, "kept": kept})
    save_image_grid(torch.stack(tiles).clamp(0, 1), grid_path, nrow=keep, labels=labels, scale=scale)
    data = {"grid": grid_path.name, "settings": settings, "prompts": entries}
    grid_path.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data

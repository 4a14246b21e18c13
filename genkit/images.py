"""Image helpers shared by the stages, the sampler and plugins: tensors <-> Pillow, PNG grids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

__all__ = ["save_image_grid", "tensor_to_pil", "image_grid"]


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """``float[3, H, W]`` in ``[0, 1]`` (values outside are clipped) -> an RGB Pillow image."""
    if image.dim() != 3 or image.shape[0] != 3:
        raise ValueError(f"expected an image tensor [3, H, W], got shape {tuple(image.shape)}")
    array = image.detach().float().cpu().clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(array.permute(1, 2, 0).numpy(), mode="RGB")


def image_grid(
    images: torch.Tensor, nrow: int = 8, labels: Sequence[str] | None = None, padding: int = 2, scale: int = 1
) -> Image.Image:
    """Tile ``images`` (``float[N, 3, H, W]`` in ``[0, 1]``) ``nrow`` per row on a white background.

    With ``labels`` (one string per image), each tile gets its text in a strip under it (long labels wrap; a
    ``"\n"`` starts a new line).
    ``scale`` enlarges each tile by an integer factor (nearest neighbour) so small images stay readable.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images [N, 3, H, W], got shape {tuple(images.shape)}")
    n = images.shape[0]
    if labels is not None and len(labels) != n:
        raise ValueError(f"{len(labels)} labels for {n} images")
    nrow = max(1, min(nrow, max(n, 1)))
    rows = max(1, (n + nrow - 1) // nrow)
    h, w = images.shape[2] * scale, images.shape[3] * scale
    font = ImageFont.load_default()
    label_lines = [_wrap(str(text), max(4, w // 6)) for text in labels] if labels is not None else []
    line_height = 11
    strip = (max((len(lines) for lines in label_lines), default=0) * line_height + 2) if labels is not None else 0
    cell_w, cell_h = w + padding, h + strip + padding
    canvas = Image.new("RGB", (nrow * cell_w + padding, rows * cell_h + padding), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        tile = tensor_to_pil(images[i])
        if scale != 1:
            tile = tile.resize((w, h), Image.Resampling.NEAREST)
        x, y = padding + (i % nrow) * cell_w, padding + (i // nrow) * cell_h
        canvas.paste(tile, (x, y))
        for j, line in enumerate(label_lines[i] if labels is not None else []):
            draw.text((x, y + h + 1 + j * line_height), line, fill="black", font=font)
    return canvas


def save_image_grid(
    images: torch.Tensor, path: str | Path, nrow: int = 8, labels: Sequence[str] | None = None, scale: int = 1
) -> Path:
    """Write ``images`` (``float[N, 3, H, W]`` in ``[0, 1]``) as one PNG grid at ``path``; see :func:`image_grid`.

    The file is written beside its final name and renamed into place. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    image_grid(images, nrow=nrow, labels=labels, scale=scale).save(tmp, format="PNG")
    tmp.replace(path)
    return path


def _wrap(text: str, width: int) -> list[str]:
    if "\n" in text:
        return [line for part in text.split("\n") for line in _wrap(part, width)]
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if len(candidate) > width and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line or not lines:
        lines.append(line)
    return lines


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB Pillow image -> ``float[3, H, W]`` in ``[0, 1]``."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()

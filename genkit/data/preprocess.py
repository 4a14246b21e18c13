"""Turn an image file of any size and mode into the recipe's square RGB tensor (Pillow only)."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import Image, ImageFile

# A truncated file must fail loudly so that it is skipped, never half-decoded.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class UnreadableImage(Exception):
    """An image file that is missing, truncated or not an image. The message says why, in a few words."""


def load_rgb(path: Path | IO[bytes]) -> Image.Image:
    """Open ``path`` (a file, or an open binary stream such as a shard member's bytes) fully (so truncation is
    detected now) as RGB; transparency is composited on white."""
    image: Image.Image  # Image.open(...).__enter__ is typed as Any
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(background, rgba).convert("RGB")
            return image.convert("RGB")
    except FileNotFoundError:
        raise UnreadableImage("missing file") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UnreadableImage(f"unreadable image ({type(exc).__name__}: {exc})") from None


MAX_ASPECT = 4


def resize_short_side(image: Image.Image, size: int) -> Image.Image:
    """Resize so that the shorter side is ``size`` (aspect kept), with a high-quality filter. A long side over
    ``MAX_ASPECT`` times the short one is first cut to its central part of that length, so that a 1 x 10,000,000
    pixel strip cannot become a giant image (square crops never reach past it anyway for centred crops)."""
    w, h = image.size
    if max(w, h) > MAX_ASPECT * min(w, h):
        keep = MAX_ASPECT * min(w, h)
        left, top = (w - min(w, keep)) // 2, (h - min(h, keep)) // 2
        image = image.crop((left, top, left + min(w, keep), top + min(h, keep)))
        w, h = image.size
    if min(w, h) == size:
        return image
    scale = size / min(w, h)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    return image.resize(new, Image.Resampling.BICUBIC if scale > 1 else Image.Resampling.LANCZOS)


def to_uint8(image: Image.Image) -> np.ndarray:
    """RGB Pillow image -> ``uint8[H, W, 3]`` array."""
    array: np.ndarray = np.asarray(image, dtype=np.uint8).copy()  # numpy types copy() as Any
    return array


def square_crop(array: np.ndarray, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Crop ``uint8[H, W, 3]`` (short side == ``size``) to ``float[3, size, size]`` in ``[0, 1]``.

    Centre crop without ``generator``; a uniformly random crop with it. Never flipped: images may contain text.
    """
    h, w = array.shape[:2]
    if generator is None:
        top, left = (h - size) // 2, (w - size) // 2
    else:
        top = int(torch.randint(0, h - size + 1, (1,), generator=generator)) if h > size else 0
        left = int(torch.randint(0, w - size + 1, (1,), generator=generator)) if w > size else 0
    crop = array[top : top + size, left : left + size]
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float().div_(255.0)

"""Small webdataset shards written the way img2dataset writes them (KEY.jpg + KEY.txt + KEY.json per sample)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import webdataset
from PIL import Image


def jpeg(value: int, size: tuple[int, int] = (40, 32)) -> bytes:
    rng = np.random.default_rng(value)
    array = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_shards(
    root: Path, shards: int, per_shard: int, size: tuple[int, int] = (40, 32), bad: dict[str, dict] | None = None
) -> list[str]:
    """``shards`` shards of ``per_shard`` samples each in ``root`` (keys ``SSSSSIIII``); ``bad`` maps a key to
    the members to write instead of the normal ones. Returns every key in order."""
    root.mkdir(parents=True, exist_ok=True)
    keys = []
    for s in range(shards):
        with webdataset.TarWriter(str(root / f"{s:05d}.tar")) as writer:
            for i in range(per_shard):
                key = f"{s:05d}{i:04d}"
                sample = {
                    "__key__": key,
                    "jpg": jpeg(s * 1000 + i, size),
                    "txt": f"caption {key}",
                    "json": json.dumps({"key": key, "caption": f"caption {key}"}).encode(),
                }
                if bad and key in bad:
                    sample = {"__key__": key, **bad[key]}
                writer.write(sample)
                keys.append(key)
        (root / f"{s:05d}_stats.json").write_text(json.dumps({"count": per_shard, "successes": per_shard}))
        (root / f"{s:05d}.parquet").write_bytes(b"PAR1 not read by genkit")
    return keys

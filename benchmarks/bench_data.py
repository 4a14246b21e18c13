"""Streamed data at scale (JSON lines): memory flat in corpus size, DataLoader workers' speed-up, the trainer's
wait on data. Everything is measured in one run on this machine, as ratios where it is speed.

1. ``memory``: an autoencoder-stage epoch (``genkit run``, one epoch of steps, 2 workers) over 10,000 and over
   200,000 synthetic 64-px images in webdataset shards; the peak RSS of the whole process tree (trainer and its
   workers, summed, sampled from /proc every 50 ms) of each, and their ratio (goal: at most 1.2).
2. ``loader``: images/s of the streamed loader (decode, resize, crop, collate) with 0 and with 2 workers on the
   same shards, and the ratio (goal: at least 1.7).
3. ``data_wait``: the demo-sized dVAE trained from 32-px shards with 2 workers; the share of step time the trainer
   spent waiting for the next micro-batch (goal: under 5%).

Usage: ``python benchmarks/bench_data.py [--small 10000] [--large 200000] [--skip-memory]``. The shards are
written once under ``--cache`` (default: a temporary folder) from 1,000 distinct JPEGs, so every sample is still
decoded for real.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import webdataset
import yaml
from PIL import Image, ImageDraw

from genkit.data.loader import LoaderSettings, PartBatches, images_to_uint8, make_loader
from genkit.data.webdataset import WebDataset, WebDatasetParams

PER_SHARD = 5000


def jpegs(size: int, count: int = 1000) -> list[bytes]:
    """``count`` distinct JPEGs of smooth shapes on a gradient (real-image-sized files, a few KB)."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        base = np.linspace(0, 255, size, dtype=np.float32)[None, :, None] * rng.uniform(0, 1, 3)[None, None, :]
        image = Image.fromarray(np.broadcast_to(base, (size, size, 3)).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x, y, r = rng.integers(0, size, 2).tolist() + [int(rng.integers(4, size // 3))]
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def write_corpus(root: Path, count: int, size: int) -> Path:
    """``count`` samples (``KEY.jpg`` + ``KEY.txt``) in shards of ``PER_SHARD`` under ``root`` (once)."""
    done = root / "done.json"
    if done.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    pictures = jpegs(size)
    for shard in range(math.ceil(count / PER_SHARD)):
        with webdataset.TarWriter(str(root / f"{shard:05d}.tar")) as writer:
            for i in range(shard * PER_SHARD, min(count, (shard + 1) * PER_SHARD)):
                writer.write({"__key__": f"{i:09d}", "jpg": pictures[i % len(pictures)], "txt": f"picture {i % 97}"})
    done.write_text(json.dumps({"count": count}))
    return root


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError):
                continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
        todo.extend(children.get(current, []))
    return total


def epoch_peak_rss(shards: Path, count: int, work: Path) -> dict[str, float]:
    batch = 256
    recipe = {
        "seed": 0,
        "data": {
            "kind": "webdataset",
            "shards": str(shards),
            "size": 64,
            "validation_fraction": 0.001,
            "validation_size": 64,
        },
        "autoencoder": {
            "kind": "vqvae",
            "codebook_size": 64,
            "downsample": 8,
            "hidden": 8,
            "blocks_per_group": 1,
            "codebook_dim": 8,
        },
        "stages": {
            "autoencoder": {
                "steps": math.ceil(count / batch),
                "batch": batch,
                "lr": 1e-3,
                "workers": 2,
                "validate_every": 10**9,
                "validation_batches": 1,
                "checkpoint_every": 10**9,
                "log_every": 50,
            }
        },
    }
    path = work / f"memory_{count}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "genkit.cli", "run", str(path), "--out", str(work / f"run_{count}")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.05)
    if process.returncode != 0:
        raise SystemExit(f"memory run over {count} images failed:\n{process.stderr.read()[-2000:]}")
    return {"images": count, "peak_rss_mb": round(peak / 2**20, 1), "seconds": round(time.perf_counter() - start, 1)}


def loader_rate(shards: Path, workers: int, images: int) -> float:
    data = WebDataset(WebDatasetParams(shards=str(shards), validation_shards=str(shards), size=64))
    # the autoencoder stage's own micro-batches: uint8 images (see genkit.data.loader.images_to_uint8)
    batches = PartBatches(
        data.stream("train"),
        lambda items, step: images_to_uint8([i.image for i in items]),
        64,
        seed=0,
        rank=0,
        world=1,
        shuffle_buffer=1000,
    )
    loader = iter(make_loader(batches, LoaderSettings(workers=workers, prefetch=4), torch.device("cpu"), seed=0))
    next(loader)  # start-up (worker processes, first shard) is not counted
    seen, start = 0, time.perf_counter()
    while seen < images:
        seen += next(loader)[1].shape[0]
    return seen / (time.perf_counter() - start)


def demo_data_wait(shards: Path, work: Path) -> dict[str, float]:
    demo = yaml.safe_load((Path(__file__).parents[1] / "genkit" / "recipes" / "shapes" / "demo.yaml").read_text())
    recipe = {
        "seed": 0,
        "autoencoder": demo["autoencoder"],
        "data": {
            "kind": "webdataset",
            "shards": str(shards),
            "size": 32,
            "validation_fraction": 0.01,
            "validation_size": 64,
        },
        "stages": {
            "autoencoder": {
                **demo["stages"]["autoencoder"],
                "steps": 200,
                "workers": 2,
                "log_every": 1,
                "validate_every": 10**9,
                "checkpoint_every": 10**9,
                "validation_batches": 1,
            }
        },
    }
    path = work / "demo_wait.yaml"
    path.write_text(yaml.safe_dump(recipe))
    done = subprocess.run(
        [sys.executable, "-m", "genkit.cli", "run", str(path), "--out", str(work / "run_wait")],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"demo data-wait run failed:\n{done.stderr[-2000:]}")
    records = [
        json.loads(line) for line in (work / "run_wait" / "autoencoder" / "metrics.jsonl").read_text().splitlines()
    ]
    waits = [r["data_wait"] for r in records if r["split"] == "train" and r["step"] > 10]  # after start-up
    rates = [r["samples_per_s"] for r in records if r["split"] == "train" and r["step"] > 10]
    return {
        "data_wait_mean": round(float(np.mean(waits)), 4),
        "data_wait_p95": round(float(np.percentile(waits, 95)), 4),
        "images_per_s": round(float(np.mean(rates)), 1),
        "steps": len(waits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000, help="images in the small corpus (default 10000)")
    parser.add_argument("--large", type=int, default=200_000, help="images in the large corpus (default 200000)")
    parser.add_argument("--loader-images", type=int, default=6000, help="images timed per loader measurement")
    parser.add_argument("--skip-memory", action="store_true", help="skip the (slow) memory measurement")
    parser.add_argument("--cache", type=Path, help="where to keep the generated shards (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp)
        work = Path(tmp) / "work"
        work.mkdir()
        loader_shards = write_corpus(cache / "loader_64px", 2 * PER_SHARD, 64)
        zero = loader_rate(loader_shards, 0, args.loader_images)
        two = loader_rate(loader_shards, 2, args.loader_images)
        print(
            json.dumps(
                {
                    "bench": "loader",
                    "images_per_s_0_workers": round(zero, 1),
                    "images_per_s_2_workers": round(two, 1),
                    "ratio": round(two / zero, 2),
                    "goal": 1.7,
                }
            ),
            flush=True,
        )
        wait = demo_data_wait(write_corpus(cache / "demo_32px", PER_SHARD, 32), work)
        print(json.dumps({"bench": "data_wait", **wait, "goal": 0.05}), flush=True)
        if not args.skip_memory:
            small = epoch_peak_rss(write_corpus(cache / f"corpus_{args.small}", args.small, 64), args.small, work)
            large = epoch_peak_rss(write_corpus(cache / f"corpus_{args.large}", args.large, 64), args.large, work)
            print(
                json.dumps(
                    {
                        "bench": "memory",
                        "small": small,
                        "large": large,
                        "ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 3),
                        "goal": 1.2,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()

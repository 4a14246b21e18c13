"""Autoencoder throughput (JSON lines): training, encode and decode images/s for dvae and vqvae.

Settings (the issue's): 32 px images, 8x8 tokens (downsample 4), 512 codes, hidden 64, batch 32, fp32, CPU.
Each line also gives ``ratio_to_dvae`` (same process, same batch), which is comparable across machines where the
absolute images/s are not. Usage: ``python benchmarks/bench_autoencoder.py [--repeats N] [--threads T]``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import genkit

SETTINGS = {"codebook_size": 512, "downsample": 4, "hidden": 64}
IMAGE_SIZE, BATCH = 32, 32


def _rate(fn, repeats: int) -> float:
    fn()  # warm-up (oneDNN primitives, allocator)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return BATCH / best


def measure(kind: str, repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    params = genkit.make_params("autoencoder", kind, SETTINGS)
    model = genkit.build_component("autoencoder", params, genkit.BuildContext(image_size=IMAGE_SIZE))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = torch.rand(BATCH, 3, IMAGE_SIZE, IMAGE_SIZE)
    codes = torch.randint(0, model.vocab_size, (BATCH, *model.grid))

    def train_step() -> None:
        model.train()
        loss, _ = model.training_loss(images, 100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    rates = {"train_images_per_s": _rate(train_step, repeats)}
    model.eval()
    rates["encode_images_per_s"] = _rate(lambda: model.encode(images), repeats)
    rates["decode_images_per_s"] = _rate(lambda: model.decode(codes), repeats)
    rates["parameters"] = sum(p.numel() for p in model.parameters())
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement (best is kept)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {kind: measure(kind, args.repeats) for kind in ("dvae", "vqvae")}
    for kind, rates in results.items():
        line = {
            "bench": "autoencoder",
            "kind": kind,
            "image_size": IMAGE_SIZE,
            "grid": [8, 8],
            "codes": 512,
            "hidden": SETTINGS["hidden"],
            "batch": BATCH,
            "precision": "fp32",
            "threads": torch.get_num_threads(),
            **{k: round(v, 2) for k, v in rates.items()},
        }
        for key in ("train_images_per_s", "encode_images_per_s", "decode_images_per_s"):
            line[f"{key}_ratio_to_dvae"] = round(rates[key] / results["dvae"][key], 3)
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()

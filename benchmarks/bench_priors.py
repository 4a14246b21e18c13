"""The two prior families side by side: sampling time per image and forward passes per image at equal candidates.

The autoregressive ``sparse_transformer`` (raster order, KV cache: one pass per image token after a shared
prefill) against the masked ``maskgit`` prior (iterative parallel decoding: ``steps`` passes over the whole
image), each as its demo recipe declares it (``shapes/demo``, ``shapes/demo_maskgit``; BPE 512 x 16 text, 512
image codes), with freshly initialised weights: sampling time does not depend on what the weights learned.
Each configuration times whole
``sample`` calls (one caption, ``candidates`` images), best of ``--repeats`` after a warm-up, in one process, and
reports ``speedup`` = autoregressive seconds per image / masked seconds per image. A last line compares a training
step (forward, backward, AdamW) at the demo's batch of 32 on the 8x8 grid: ``train_step_ratio`` = masked seconds /
autoregressive seconds (below 1: the masked prior trains faster per step). One JSON object per line::

    python benchmarks/bench_priors.py                      # CPU, 2 threads
    python benchmarks/bench_priors.py --device cuda        # a GPU, if there is one

Speed is a ratio inside one run; the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

import genkit
from genkit.recipe.load import load_recipe

TEXT_VOCAB, TEXT_LENGTH, IMAGE_VOCAB = 512, 16, 512
PRIORS = {"sparse_transformer": "shapes/demo", "maskgit": "shapes/demo_maskgit"}  # each prior as its recipe has it


def build(kind: str, grid: tuple[int, int], device: torch.device, steps: int | None) -> Any:
    context = genkit.BuildContext(
        text_vocab_size=TEXT_VOCAB, text_length=TEXT_LENGTH, image_vocab_size=IMAGE_VOCAB, image_grid=grid
    )
    params = load_recipe(PRIORS[kind]).recipe.prior
    if kind == "maskgit" and steps is not None:
        params = params.model_copy(update={"steps": steps})
    prior = genkit.build_component("prior", params, context)
    return prior.to(device).eval()


def seconds_per_sample(prior: Any, candidates: int, device: torch.device, repeats: int) -> float:
    text = torch.randint(1, TEXT_VOCAB, (1, TEXT_LENGTH), device=device)
    lengths = torch.tensor([TEXT_LENGTH // 2], device=device)
    generator = torch.Generator(device=device).manual_seed(0)

    def once() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            prior.sample(text, lengths, candidates=candidates, temperature=1.0, generator=generator)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    once()  # warm-up: allocator, kernels
    return min(once() for _ in range(repeats))


def seconds_per_train_step(prior: Any, batch: int, steps: int, device: torch.device, grid: tuple[int, int]) -> float:
    prior.train()
    optimizer = torch.optim.AdamW(prior.parameters(), lr=1e-3)
    h, w = grid
    text = torch.randint(1, TEXT_VOCAB, (batch, TEXT_LENGTH), device=device)
    lengths = torch.randint(1, TEXT_LENGTH + 1, (batch,), device=device)
    image = torch.randint(0, IMAGE_VOCAB, (batch, h, w), device=device)

    def step() -> None:
        loss, _ = prior.loss(text, lengths, image)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]  # median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--grids", default="8,16,32", help="token grid sides to measure, comma-separated")
    parser.add_argument("--candidates", default="1,16", help="candidates per caption, comma-separated")
    parser.add_argument("--steps", type=int, default=None, help="maskgit decoding steps (default: its params')")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per configuration (best is kept)")
    parser.add_argument("--train-steps", type=int, default=20, help="timed training steps per prior (0: skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    genkit.tune_cpu_allocator()
    device = torch.device(args.device)
    torch.manual_seed(0)
    for side in (int(s) for s in args.grids.split(",")):
        grid = (side, side)
        priors = {kind: build(kind, grid, device, args.steps) for kind in PRIORS}
        for candidates in (int(c) for c in args.candidates.split(",")):
            seconds = {kind: seconds_per_sample(p, candidates, device, args.repeats) for kind, p in priors.items()}
            per_image = {kind: s / candidates for kind, s in seconds.items()}
            passes = {"sparse_transformer": side * side, "maskgit": int(priors["maskgit"].passes_per_image)}
            print(
                json.dumps(
                    {
                        "bench": f"prior_sampling_{side}x{side}_candidates{candidates}",
                        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                        "threads": torch.get_num_threads(),
                        "seconds_per_image": {k: round(v, 5) for k, v in per_image.items()},
                        "forward_passes_per_image": passes,
                        "speedup": round(per_image["sparse_transformer"] / per_image["maskgit"], 3),
                    }
                ),
                flush=True,
            )

    if args.train_steps:
        priors = {kind: build(kind, (8, 8), device, args.steps) for kind in PRIORS}
        seconds = {kind: seconds_per_train_step(p, 32, args.train_steps, device, (8, 8)) for kind, p in priors.items()}
        print(
            json.dumps(
                {
                    "bench": "prior_train_step_8x8_batch32",
                    "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "median_seconds_per_step": {k: round(v, 5) for k, v in seconds.items()},
                    "train_step_ratio": round(seconds["maskgit"] / seconds["sparse_transformer"], 3),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

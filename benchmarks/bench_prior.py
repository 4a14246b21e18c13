"""Prior benchmark: training tokens/s against a same-process torch.mm peak, and KV-cache vs recompute sampling.

CPU, fp32, ``torch.set_num_threads(2)``. One JSON object per line::

    python benchmarks/bench_prior.py --config dallepytorch-cpu

``dallepytorch-cpu`` is the fixed config: width 256, depth 4, 8 heads of 32, MLP x4, text vocab 10000 with 64
positions, image 8x8 tokens with 512 codes (sequence 128), full attention, batch 8, AdamW lr 3e-4; then the
paper's layer schedule (row/column/row/conv) at 16x16 and 32x32 grids; then ``prior_compile_8x8``: the first
config's prior eager against a copy with its blocks compiled (``compile: true``, genkit.compile), training steps
and whole samples interleaved in one process (ratios of medians), and ``prior_checkpointing_8x8``: the peak
memory of a training step (genkit.memory_measure) and its time with and without ``checkpoint_activations``.

Model FLOPs per token = 6 x (block parameters + the head that token uses) + 12 x layers x width x sequence
(attention, PaLM's formula); embeddings are lookups and are not counted. ``peak_fraction`` = model FLOP/s /
``matmul_peak_gflops`` (best of repeated 2048^2 torch.mm in this process). ``peak_fraction_all_params`` counts
6 x every parameter (embeddings and both heads included) per token instead: the literal "6 N" rule, higher.
Sampling at 8x8 times whole samples (every decode step, the prefill included), best of 3 runs each way. The
machine may be shared: compare ratios, not absolute numbers.

The process runs with :func:`genkit.tune_cpu_allocator`, as the ``genkit`` command does (key ``cpu_allocator``);
``GENKIT_CPU_ALLOCATOR=default`` measures glibc's default instead.
"""

from __future__ import annotations

import argparse
import functools
import json
import time

import torch

import genkit

CONFIGS = {
    "dallepytorch-cpu": [
        dict(bench="prior_train_sample_full_8x8", grid=(8, 8), attention="full", sample="complete"),
        dict(bench="prior_paper_schedule_16x16", grid=(16, 16), attention="paper", sample="midpoint"),
        dict(bench="prior_paper_schedule_32x32", grid=(32, 32), attention="paper", sample="midpoint"),
    ],
}
WIDTH, DEPTH, HEADS, TEXT_VOCAB, TEXT_LENGTH, IMAGE_VOCAB, BATCH, SAMPLE_BATCH = 256, 4, 8, 10000, 64, 512, 8, 4


def matmul_peak_gflops(size: int = 2048, repeats: int = 8) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def build(grid, attention):
    context = genkit.BuildContext(
        text_vocab_size=TEXT_VOCAB, text_length=TEXT_LENGTH, image_vocab_size=IMAGE_VOCAB, image_grid=grid
    )
    params = genkit.make_params(
        "prior",
        "sparse_transformer",
        {"width": WIDTH, "depth": DEPTH, "heads": HEADS, "head_dim": 32, "mlp_ratio": 4.0, "attention": attention},
    )
    return genkit.build_component("prior", params, context), context


def flops_per_step(prior, batch: int) -> float:
    blocks = sum(p.numel() for p in prior.blocks.parameters()) + sum(p.numel() for p in prior.final_norm.parameters())
    text_head = sum(p.numel() for p in prior.text_head.parameters())
    image_head = sum(p.numel() for p in prior.image_head.parameters())
    t, s = prior.text_length, prior.sequence_length
    per_sequence = 6 * (blocks * s + text_head * t + image_head * (s - t)) + 12 * DEPTH * WIDTH * s * s
    return float(per_sequence * batch)


def flops_per_step_all_params(prior, batch: int) -> float:
    """6 x all parameters x tokens + the same attention term."""
    s = prior.sequence_length
    return float((6 * sum(p.numel() for p in prior.parameters()) * s + 12 * DEPTH * WIDTH * s * s) * batch)


def bench_train(prior, context, steps: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    h, w = context.image_grid
    text = torch.randint(0, TEXT_VOCAB, (BATCH, TEXT_LENGTH), generator=gen)
    lengths = torch.randint(1, TEXT_LENGTH + 1, (BATCH,), generator=gen)
    image = torch.randint(0, IMAGE_VOCAB, (BATCH, h, w), generator=gen)
    try:
        optim = torch.optim.AdamW(prior.parameters(), lr=3e-4, fused=True)
    except (RuntimeError, TypeError):
        optim = torch.optim.AdamW(prior.parameters(), lr=3e-4, foreach=True)
    prior.train()

    def step():
        loss, _ = prior.loss(text, lengths, image)
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    return {
        "step_s_median": median,
        "train_tokens_per_s": BATCH * prior.sequence_length / median,
        "model_gflops_per_s": flops_per_step(prior, BATCH) / median / 1e9,
        "model_gflops_per_s_all_params": flops_per_step_all_params(prior, BATCH) / median / 1e9,
    }


@torch.no_grad()
def bench_sample(prior, context, how: str) -> dict:
    from genkit_sparse_transformer.sampling import decode

    prior.eval()
    gen = torch.Generator().manual_seed(1)
    text = torch.randint(0, TEXT_VOCAB, (SAMPLE_BATCH, TEXT_LENGTH), generator=gen)
    lengths = torch.full((SAMPLE_BATCH,), TEXT_LENGTH // 2)
    h, w = context.image_grid
    n = h * w
    result = {}
    for use_cache in (True, False):
        if how == "complete":  # whole samples: the true average over every step; best of 3 (shared machine)
            prior.sample(text, lengths, use_cache=use_cache)  # warm-up
            runs = []
            for repeat in range(3):
                start = time.perf_counter()
                prior.sample(text, lengths, generator=torch.Generator().manual_seed(repeat), use_cache=use_cache)
                runs.append((time.perf_counter() - start) / n)
            per_step = min(runs)
        else:  # 8 decode steps from the middle of the image (the average prefix length)
            text_full = prior.fill_text(text, lengths)
            image = torch.randint(0, IMAGE_VOCAB, (SAMPLE_BATCH, n), generator=gen)
            first, count, steps = n // 2, 8, []

            def greedy_token(logits, i, steps=steps, count=count):
                """The most likely token; stamps the time of each step and stops after ``count`` steps."""
                steps.append(time.perf_counter())
                if len(steps) > count:
                    raise StopIteration
                return logits.argmax(-1)

            try:
                decode(prior, text_full, image, first, greedy_token, use_cache)
            except StopIteration:
                pass
            per_step = (steps[-1] - steps[1]) / (len(steps) - 2)  # exclude the prefill
        result["sample_ms_per_step_cached" if use_cache else "sample_ms_per_step_uncached"] = per_step * 1e3
    result["kv_cache_speedup"] = result["sample_ms_per_step_uncached"] / result["sample_ms_per_step_cached"]
    result["sample_method"] = "full samples" if how == "complete" else "8 steps from mid-image"
    return result


def _train_step(prior, optim, batch):
    loss, _ = prior.loss(*batch)
    loss.backward()
    optim.step()
    optim.zero_grad(set_to_none=True)


def _train_batch(context):
    gen = torch.Generator().manual_seed(0)
    h, w = context.image_grid
    return (
        torch.randint(0, TEXT_VOCAB, (BATCH, TEXT_LENGTH), generator=gen),
        torch.randint(1, TEXT_LENGTH + 1, (BATCH,), generator=gen),
        torch.randint(0, IMAGE_VOCAB, (BATCH, h, w), generator=gen),
    )


def bench_compile(steps: int) -> dict:
    """Eager vs compiled blocks on the 8x8 full-attention prior: training steps and whole samples, interleaved."""
    from genkit.compile import compile_model

    eager, context = build((8, 8), "full")
    compiled, _ = build((8, 8), "full")
    compiled.load_state_dict(eager.state_dict())
    start = time.perf_counter()
    compile_model(compiled)
    batch = _train_batch(context)
    optims = {id(m): torch.optim.AdamW(m.parameters(), lr=3e-4, fused=True) for m in (eager, compiled)}
    _train_step(compiled, optims[id(compiled)], batch)
    row = {"compile_train_s": time.perf_counter() - start}
    _train_step(eager, optims[id(eager)], batch)
    times = {"eager": [], "compiled": []}
    for _ in range(steps):
        for name, model in (("eager", eager), ("compiled", compiled)):
            began = time.perf_counter()
            _train_step(model, optims[id(model)], batch)
            times[name].append(time.perf_counter() - began)
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    row.update(
        train_step_ms_eager=median["eager"] * 1e3,
        train_step_ms_compiled=median["compiled"] * 1e3,
        compile_train_speedup=median["eager"] / median["compiled"],
    )
    # sampling: a fresh compilation with dynamic shapes (the decode step's position changes), as compile_prior does
    eager_sampler, _ = build((8, 8), "full")
    sampler, _ = build((8, 8), "full")
    sampler.load_state_dict(eager_sampler.state_dict())
    compile_model(sampler, dynamic=True)
    gen = torch.Generator().manual_seed(1)
    text = torch.randint(0, TEXT_VOCAB, (SAMPLE_BATCH, TEXT_LENGTH), generator=gen)
    lengths = torch.full((SAMPLE_BATCH,), TEXT_LENGTH // 2)
    start = time.perf_counter()
    drawn = sampler.sample(text, lengths, generator=torch.Generator().manual_seed(0))
    row["compile_sample_s"] = time.perf_counter() - start
    same = eager_sampler.sample(text, lengths, generator=torch.Generator().manual_seed(0))
    row["compiled_sample_same_tokens"] = float((drawn == same).float().mean())
    sample_times = {"eager": [], "compiled": []}
    for repeat in range(3):
        for name, model in (("eager", eager_sampler), ("compiled", sampler)):
            began = time.perf_counter()
            model.sample(text, lengths, generator=torch.Generator().manual_seed(repeat))
            sample_times[name].append((time.perf_counter() - began) / 64)
    best = {name: min(t) for name, t in sample_times.items()}
    row.update(
        sample_ms_per_step_eager=best["eager"] * 1e3,
        sample_ms_per_step_compiled=best["compiled"] * 1e3,
        compile_sample_speedup=best["eager"] / best["compiled"],
    )
    return row


def bench_checkpointing(steps: int) -> dict:
    """Peak memory and step time of the 8x8 full-attention prior's training step, with and without checkpointing."""
    from genkit.memory_measure import measured_step_peak

    row = {}
    for label, setting in (("plain", False), ("checkpointed", True)):
        context = genkit.BuildContext(
            text_vocab_size=TEXT_VOCAB, text_length=TEXT_LENGTH, image_vocab_size=IMAGE_VOCAB, image_grid=(8, 8)
        )
        values = {"width": WIDTH, "depth": DEPTH, "heads": HEADS, "head_dim": 32, "attention": "full"}
        params = genkit.make_params("prior", "sparse_transformer", {**values, "checkpoint_activations": setting})
        torch.manual_seed(0)
        prior = genkit.build_component("prior", params, context)
        batch = _train_batch(context)
        optim = torch.optim.AdamW(prior.parameters(), lr=3e-4, fused=True)
        _train_step(prior, optim, batch)
        step = functools.partial(_train_step, prior, optim, batch)
        row[f"peak_mb_{label}"] = measured_step_peak(step, prior, optim, batch) / 1e6
        times = []
        for _ in range(steps):
            began = time.perf_counter()
            _train_step(prior, optim, batch)
            times.append(time.perf_counter() - began)
        row[f"train_step_ms_{label}"] = sorted(times)[len(times) // 2] * 1e3
    row["checkpointing_peak_ratio"] = row["peak_mb_checkpointed"] / row["peak_mb_plain"]
    row["checkpointing_time_ratio"] = row["train_step_ms_checkpointed"] / row["train_step_ms_plain"]
    return row


EXTRA = {"prior_compile_8x8": bench_compile, "prior_checkpointing_8x8": bench_checkpointing}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="dallepytorch-cpu", choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per benchmark (median reported)")
    parser.add_argument("--only", default=None, help="run only the benchmark with this name")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the issue's setting: 2)")
    args = parser.parse_args(argv)
    allocator = "tuned" if genkit.tune_cpu_allocator() else "default"  # as the genkit command does
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    for spec in CONFIGS[args.config]:
        if args.only and spec["bench"] != args.only:
            continue
        peak = matmul_peak_gflops()
        prior, context = build(spec["grid"], spec["attention"])
        row = {
            "bench": spec["bench"],
            "config": args.config,
            "threads": args.threads,
            "cpu_allocator": allocator,
            "grid": list(spec["grid"]),
            "attention": spec["attention"],
            "sequence": prior.sequence_length,
            "parameters": sum(p.numel() for p in prior.parameters()),
        }
        row.update(bench_train(prior, context, args.steps))
        peak = max(peak, matmul_peak_gflops())  # before and after: the machine may be shared
        row["matmul_peak_gflops"] = peak
        row["peak_fraction"] = row["model_gflops_per_s"] / peak
        row["peak_fraction_all_params"] = row.pop("model_gflops_per_s_all_params") / peak
        row.update(bench_sample(prior, context, spec["sample"]))
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    for name, bench in EXTRA.items():
        if args.only and name != args.only:
            continue
        row = {"bench": name, "config": args.config, "threads": args.threads, "cpu_allocator": allocator}
        row.update(bench(args.steps))
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()

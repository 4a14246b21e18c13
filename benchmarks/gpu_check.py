"""The GPU check: one script that measures what genkit's GPU path does, printing one JSON object per section.

    python benchmarks/gpu_check.py             # on a CUDA machine (about 5-10 minutes on one H100)
    python benchmarks/gpu_check.py --quick     # smaller sizes and fewer steps (about 2 minutes)
    python benchmarks/gpu_check.py --cpu-smoke # every code path with tiny sizes on the CPU (no figure is meaningful)

Sections (each in its own try/except: a failing section prints ``{"section": ..., "error": ...}`` and the rest run):

- ``libraries``: torch, CUDA, the GPU, xformers (and whether its kernels were built for this torch), bitsandbytes.
- ``attention``: on the paper's masks (text 256 + 1, a 32x32 grid; row, column, conv and full layers), the
  xformers backend and SDPA against the float64 reference: max abs error of the output, ms per forward and per
  forward+backward (bf16, batch 2 x 16 heads of 64), and the kernels each ran (``genkit.attention.probe``).
  Goal: xformers and SDPA agree within bf16 tolerance (max error <= 2e-2).
- ``mfu``: a 350M-parameter sparse-transformer prior (width 1024, depth 24, 16 heads; text 256 of a 16,384 BPE
  vocabulary, 32x32 image tokens of 8,192: 1280 tokens) trained in bf16 autocast with fused AdamW. Model FLOPs
  per sequence = 6 x (block parameters x 1280 + text head x 256 + image head x 1024) + 12 x depth x width x
  1280^2 (PaLM's formula; dense attention counted, as is the convention, although the masks skip most of it);
  MFU = model FLOP/s / the GPU's dense bf16 peak (:data:`PEAK_BF16`, by device name). Goal: >= 45% on an H100.
- ``fp16_per_resblock``: 200 training steps of a smaller prior through genkit's trainer with ``precision: fp16,
  loss_scaling: per_resblock``: skipped steps, non-finite losses (goal: none), the final loss and the scales.
- ``fsdp``: genkit's trainer with FSDP2 on every visible GPU (NCCL; gloo on 2 CPU ranks for --cpu-smoke), bf16,
  every block checkpointed: step time, tokens/s per GPU, peak memory per GPU against genkit.sizing's plan.
- ``sampling``: KV-cache sampling of the 350M prior at batch 256 (one caption x 256 candidates): images/s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch

import genkit

#: Dense bf16 tensor-core peaks (FLOP/s), by a substring of ``torch.cuda.get_device_name()`` (first match wins).
PEAK_BF16 = [
    ("H200", 989.4e12),
    ("H100 PCIe", 756.0e12),
    ("H100", 989.4e12),  # SXM
    ("A100", 312.0e12),
    ("L40S", 362.05e12),
    ("A10G", 70.0e12),
]
FULL = dict(width=1024, depth=24, heads=16, text_vocab=16384, text_length=256, image_vocab=8192, grid=(32, 32))
QUICK = dict(FULL, depth=8)
SMOKE = dict(width=32, depth=2, heads=2, text_vocab=100, text_length=8, image_vocab=64, grid=(4, 4))


def emit(section: str, **values: Any) -> dict[str, Any]:
    row = {"section": section, **{k: round(v, 5) if isinstance(v, float) else v for k, v in values.items()}}
    print(json.dumps(row), flush=True)
    return row


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16 if key in name), None)


def timed(fn: Any, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn()`` (CUDA synchronised), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def build_prior(size: dict[str, Any], device: torch.device, **extra: Any) -> Any:
    context = genkit.BuildContext(
        text_vocab_size=size["text_vocab"],
        text_length=size["text_length"],
        image_vocab_size=size["image_vocab"],
        image_grid=size["grid"],
    )
    values = {"width": size["width"], "depth": size["depth"], "heads": size["heads"], **extra}
    torch.manual_seed(0)
    return genkit.build_component("prior", genkit.make_params("prior", "sparse_transformer", values), context).to(
        device
    )


def random_batch(size: dict[str, Any], batch: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randint(0, size["text_vocab"], (batch, size["text_length"]), generator=gen).to(device),
        torch.randint(1, size["text_length"] + 1, (batch,), generator=gen).to(device),
        torch.randint(0, size["image_vocab"], (batch, *size["grid"]), generator=gen).to(device),
    )


# -- sections -----------------------------------------------------------------------------------------------------
def section_libraries(args: argparse.Namespace, device: torch.device) -> None:
    from genkit.accelerators import library_report

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    emit("libraries", device=str(device), gpu=gpu, gpus=torch.cuda.device_count(), **library_report())


def section_attention(args: argparse.Namespace, device: torch.device) -> None:
    from genkit.attention import AttentionLayout, ReferenceAttention, SDPAAttention
    from genkit.attention.probe import attention_kernels

    text, grid, batch, heads = (256, (32, 32), 2, 16) if not args.cpu_smoke else (4, (4, 4), 1, 2)
    dtype = torch.bfloat16
    backends: dict[str, Any] = {"sdpa": SDPAAttention}
    try:
        from genkit_sparse_transformer.xformers_backend import XFormersAttention, unusable_reason

        reason = unusable_reason(device, dtype) if device.type == "cuda" else "xformers needs CUDA"
        if reason is None:
            backends["xformers"] = XFormersAttention
        else:
            emit("attention", backend="xformers", error=f"not usable: {reason}")
    except ImportError as exc:
        emit("attention", backend="xformers", error=f"not installed: {exc}")
    for layer_type in ("row", "column", "conv", "full"):
        layout = AttentionLayout(text + 1, grid, layer_type, 11 if not args.cpu_smoke else 3)
        gen = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(batch, heads, layout.length, 64, generator=gen).to(device) for _ in range(3))
        reference = ReferenceAttention(layout)(q.double(), k.double(), v.double())
        outputs = {}
        for name, backend_class in backends.items():
            backend = backend_class(layout)
            qb, kb, vb = (x.to(dtype).requires_grad_() for x in (q, k, v))
            out = backend(qb, kb, vb).detach()
            outputs[name] = out.double()

            def forward(backend: Any = backend, qb: Any = qb, kb: Any = kb, vb: Any = vb) -> Any:
                with torch.no_grad():
                    return backend(qb, kb, vb)

            def forward_backward(backend: Any = backend, qb: Any = qb, kb: Any = kb, vb: Any = vb) -> None:
                backend(qb, kb, vb).float().sum().backward()

            emit(
                "attention",
                layer=layer_type,
                backend=name,
                sequence=layout.length,
                max_error_vs_reference=float((out.double() - reference).abs().max()),
                forward_ms=timed(forward, device, args.repeats) * 1e3,
                forward_backward_ms=timed(forward_backward, device, args.repeats) * 1e3,
                kernels=attention_kernels(backend, layout, device, dtype),
            )
        if len(outputs) == 2:
            gap = float((outputs["xformers"] - outputs["sdpa"]).abs().max())
            emit("attention", layer=layer_type, xformers_vs_sdpa_max_error=gap, goal_met=gap <= 2e-2)


def section_mfu(args: argparse.Namespace, device: torch.device) -> None:
    from genkit.attention.probe import layer_kernels

    size = SMOKE if args.cpu_smoke else QUICK if args.quick else FULL
    batch = 2 if args.cpu_smoke else args.mfu_batch
    prior = build_prior(size, device, checkpoint_activations=args.checkpoint)
    if args.compile:
        from genkit.compile import compile_model

        compile_model(prior)
    optim = torch.optim.AdamW(prior.parameters(), lr=1e-4, fused=device.type == "cuda")
    data = random_batch(size, batch, device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss, _ = prior.loss(*data)
        loss.backward()
        optim.step()
        optim.zero_grad(set_to_none=True)

    seconds = timed(step, device, 2 if args.cpu_smoke else args.steps)
    t, s = prior.text_length, prior.sequence_length
    blocks = sum(p.numel() for p in prior.blocks.parameters()) + sum(p.numel() for p in prior.final_norm.parameters())
    heads = sum(p.numel() for p in prior.text_head.parameters()) * t + sum(
        p.numel() for p in prior.image_head.parameters()
    ) * (s - t)
    flops = batch * (6 * (blocks * s + heads) + 12 * size["depth"] * size["width"] * s * s)
    peak = peak_flops(device)
    kernels = {f"{r['type']}": r["kernels"] for r in layer_kernels(prior, device, torch.bfloat16)}
    emit(
        "mfu",
        parameters=sum(p.numel() for p in prior.parameters()),
        sequence=s,
        micro_batch=batch,
        checkpoint_activations=args.checkpoint,
        compile=args.compile,
        step_s=seconds,
        tokens_per_s=batch * s / seconds,
        model_tflops_per_s=flops / seconds / 1e12,
        peak_tflops=peak / 1e12 if peak else None,
        mfu=flops / seconds / peak if peak else None,
        goal_met=(flops / seconds / peak >= 0.45) if peak else None,
        peak_memory_gib=torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        attention_kernels=kernels,
    )


def _prior_job(stage_dir: Path, size: dict[str, Any], settings: dict[str, Any], prior_extra: dict[str, Any]) -> Any:
    from genkit.stages.settings import TrainStage
    from genkit.train import StageJob

    data = random_batch(size, 64, torch.device("cpu"), seed=1)

    def batch(split: str, indices: list[int], step: int) -> tuple[torch.Tensor, ...]:
        return tuple(x[indices] for x in data)

    def loss(model: Any, b: Any, step: int) -> Any:
        return model.loss(*b)

    prior = build_prior(size, torch.device("cpu"), **prior_extra)
    common = dict(checkpoint_every=10**6, validate_every=10**6, validation_batches=1, log_every=1, lr=3e-4)
    return StageJob("prior", prior, TrainStage(**{**common, **settings}), stage_dir, 64, 64, batch, loss, seed=0)


def section_fp16(args: argparse.Namespace, device: torch.device) -> None:
    from genkit.train import Trainer

    size = SMOKE if args.cpu_smoke else dict(FULL, width=512, depth=8, heads=8)
    steps = 20 if args.cpu_smoke else 50 if args.quick else 200
    with tempfile.TemporaryDirectory() as tmp:
        settings = dict(steps=steps, batch=8, precision="fp16", loss_scaling="per_resblock", grad_clip=1.0)
        trainer = Trainer(_prior_job(Path(tmp), size, settings, {}), progress=False)
        trainer.fit(resume=False)
        lines = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
    train = [line for line in lines if line["split"] == "train"]
    non_finite = sum(1 for line in train if not all(map(_finite, (line["loss"], line["grad_norm"]))))
    last = train[-1]
    emit(
        "fp16_per_resblock",
        steps=steps,
        skipped_steps=last.get("skipped_steps"),
        non_finite_steps=non_finite,
        first_loss=train[0]["loss"],
        final_loss=last["loss"],
        log2_scale_min=last.get("log2_scale_min"),
        log2_scale_max=last.get("log2_scale_max"),
        goal_met=non_finite == 0,
    )


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and value == value and abs(value) != float("inf")


def _fsdp_worker(rank: int, world: int, port: int, root: str, args: argparse.Namespace) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    from genkit.train import Trainer

    try:
        size = SMOKE if args.cpu_smoke else QUICK if args.quick else FULL
        steps = 3 if args.cpu_smoke else 10
        micro = 2 if args.cpu_smoke else args.fsdp_micro_batch
        settings = dict(steps=steps, batch=micro * world, precision="bf16", distributed="fsdp")
        job = _prior_job(Path(root), size, settings, {"checkpoint_activations": True})
        from genkit.activations import activation_bytes, transformer_shape
        from genkit.sizing import planned_peak, prior_sizes_on_meta

        parameters, largest, _ = prior_sizes_on_meta(job.model)
        shape = transformer_shape(job.model)
        assert shape is not None
        planned = planned_peak(parameters, largest, world, activation_bytes(shape, micro, "bf16"), precision="bf16")
        trainer = Trainer(job, progress=False)
        trainer.fit(resume=False)
        import torch.distributed as dist

        lines = (
            [json.loads(line) for line in (Path(root) / "metrics.jsonl").read_text().splitlines()] if rank == 0 else []
        )
        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else 0
        peaks = [0] * world
        dist.all_gather_object(peaks, peak)
        if rank == 0:
            rate = [line["samples_per_s"] for line in lines if line["split"] == "train"][-1]
            (Path(root) / "result.json").write_text(
                json.dumps(
                    {
                        "samples_per_s": rate,
                        "peak_memory_bytes": peaks,
                        "planned_peak_bytes": planned,
                        "micro_batch": micro,
                        "sequence": trainer.model.sequence_length,
                    }
                )
            )
    finally:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def section_fsdp(args: argparse.Namespace, device: torch.device) -> None:
    import torch.multiprocessing as mp

    world = torch.cuda.device_count() if device.type == "cuda" else 2
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_fsdp_worker, args=(world, port, tmp, args), nprocs=world, join=True)
        result = json.loads((Path(tmp) / "result.json").read_text())
    sequence = result["sequence"]
    emit(
        "fsdp",
        ranks=world,
        backend="nccl" if device.type == "cuda" else "gloo",
        samples_per_s=result["samples_per_s"],
        tokens_per_s_per_rank=result["samples_per_s"] * sequence / world,
        micro_batch_per_rank=result["micro_batch"],
        peak_memory_gib_per_rank=[b / 2**30 for b in result["peak_memory_bytes"]],
        planned_peak_gib_per_rank=result["planned_peak_bytes"] / 2**30,
    )


def section_sampling(args: argparse.Namespace, device: torch.device) -> None:
    size = SMOKE if args.cpu_smoke else QUICK if args.quick else FULL
    candidates = 4 if args.cpu_smoke else 256
    prior = build_prior(size, device).eval()
    text, lengths, _ = random_batch(size, 1, device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    prior.to(dtype)

    def draw() -> Any:
        return prior.sample(text, lengths, candidates=candidates, generator=torch.Generator(device).manual_seed(0))

    seconds = timed(draw, device, 1 if args.cpu_smoke else 2)
    emit(
        "sampling",
        candidates=candidates,
        grid=list(size["grid"]),
        dtype=str(dtype),
        seconds_per_batch=seconds,
        images_per_s=candidates / seconds,
        ms_per_decode_step=seconds / (size["grid"][0] * size["grid"][1]) * 1e3,
    )


SECTIONS = {
    "libraries": section_libraries,
    "attention": section_attention,
    "mfu": section_mfu,
    "fp16_per_resblock": section_fp16,
    "fsdp": section_fsdp,
    "sampling": section_sampling,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller prior (depth 8) and fewer steps")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU: test the code paths")
    parser.add_argument("--only", nargs="*", choices=sorted(SECTIONS), help="run only these sections")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps (median) for mfu")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats (median) for attention")
    parser.add_argument("--mfu-batch", type=int, default=8, help="micro-batch of the mfu section")
    parser.add_argument("--fsdp-micro-batch", type=int, default=4, help="micro-batch per rank of the fsdp section")
    parser.add_argument("--checkpoint", action="store_true", help="mfu: checkpoint every block")
    parser.add_argument("--compile", action="store_true", help="mfu: compile the blocks (genkit.compile)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available() and not args.cpu_smoke:
        print(
            "gpu_check: no CUDA device here; it measures GPU figures. --cpu-smoke runs its code paths with tiny "
            "sizes on the CPU.",
            file=sys.stderr,
        )
        return 2
    device = torch.device("cuda", 0) if torch.cuda.is_available() and not args.cpu_smoke else torch.device("cpu")
    failed = 0
    for name, section in SECTIONS.items():
        if args.only and name not in args.only:
            continue
        try:
            section(args, device)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next section
            failed += 1
            emit(name, error=f"{type(exc).__name__}: {str(exc).strip()[:500]}", trace=traceback.format_exc()[-2000:])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Train the ``contrastive`` reranker with its DEFAULT params on genkit's 32 px ``shapes`` data on the CPU.

Prints JSON lines: throughput and held-out in-batch top-1 retrieval at checkpoints, plus the ratio of the
reranker's training step time to a same-process ``torch.mm`` reference (timings as ratios, not absolutes).
Captions are tokenized word by word (a stand-in for the recipe's BPE), so this measures the reranker alone.

    python plugins/genkit_contrastive/benchmarks/bench_contrastive_shapes.py [--steps 600] [--batch 64]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import genkit


def word_ids(captions: list[str], vocab: dict[str, int], length: int) -> genkit.TokenBatch:
    ids = torch.zeros(len(captions), length, dtype=torch.long)
    lengths = torch.zeros(len(captions), dtype=torch.long)
    for i, caption in enumerate(captions):
        words = [vocab.get(w, 1) for w in caption.lower().split()][:length]
        ids[i, : len(words)] = torch.tensor(words, dtype=torch.long)
        lengths[i] = len(words)
    return genkit.TokenBatch(ids, lengths)


def stack(split, indices, vocab, length):
    examples = [split[i] for i in indices]
    text = word_ids([e.caption for e in examples], vocab, length)
    return text.ids, text.lengths, torch.stack([e.image for e in examples])


def mm_seconds(n: int = 256, repeats: int = 20) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--count", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--every", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    data = genkit.build_component("dataset", genkit.make_params("dataset", "shapes", {"size": 32, "count": args.count}))
    train, validation = data.split("train"), data.split("validation")
    words = sorted({w for c in data.captions("train") for w in c.lower().split()})
    vocab = {w: i + 2 for i, w in enumerate(words)}  # 0 = padding, 1 = unknown word
    length = 16
    context = genkit.BuildContext(image_size=32, text_vocab_size=len(vocab) + 2, text_length=length)
    params = genkit.make_params("reranker", "contrastive", {})
    model = genkit.build_component("reranker", params, context)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    held_out = [
        stack(validation, range(s, s + args.batch), vocab, length)
        for s in range(0, len(validation) - args.batch + 1, args.batch)
    ]
    order = torch.Generator().manual_seed(0)
    reference = mm_seconds()
    start, step_time = time.perf_counter(), 0.0
    for step in range(1, args.steps + 1):
        batch = stack(train, torch.randint(0, len(train), (args.batch,), generator=order).tolist(), vocab, length)
        tick = time.perf_counter()
        loss, metrics = model.train().training_loss(*batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_time += time.perf_counter() - tick
        if step % args.every == 0 or step == args.steps:
            model.eval()
            val = [model.validation_metrics(*b) for b in held_out]
            print(
                json.dumps(
                    {
                        "bench": "contrastive_shapes32_default",
                        "step": step,
                        "batch": args.batch,
                        "train_loss": round(metrics["loss"], 4),
                        "temperature": round(metrics["temperature"], 4),
                        "val_top1_text_to_image": round(sum(v["top1_text_to_image"] for v in val) / len(val), 4),
                        "val_top1_image_to_text": round(sum(v["top1_image_to_text"] for v in val) / len(val), 4),
                        "chance": round(1 / args.batch, 4),
                        "wall_s": round(time.perf_counter() - start, 1),
                        "step_over_mm256": round(step_time / step / reference, 1),
                        "threads": args.threads,
                        "params": sum(p.numel() for p in model.parameters()),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()

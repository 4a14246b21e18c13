"""Stage-1 quality per CPU-minute on real pictures: genkit's autoencoder recipes vs lucidrains' DiscreteVAE.

Every contestant trains on the icon set's train split (``genkit data icons``; built here when absent) for the same
budget of CPU time (``time.process_time``; one torch thread by default), in slices taken in turn, so that a noisy
machine slows them all alike. Then each encodes and decodes the whole validation split, and the benchmark prints
one JSON line per contestant (validation PSNR and SSIM per image, averaged; code usage and perplexity over the
split; steps, CPU seconds) and writes a reconstruction grid (first row: the originals).

- A genkit recipe trains as ``genkit run`` would: its autoencoder, AdamW settings, warm-up and cosine learning
  rate, gradient clipping, compute precision (``stages.autoencoder.precision``: bf16 autocast runs on CPUs too),
  and parameter EMA (whose weights are the ones measured, as the trainer exports them).
  Its schedules run on the share of the budget spent, so a recipe's temperature and KL ramps keep their shape at
  any budget (``step = spent / budget * stages.autoencoder.steps``).
- The baseline is dalle-pytorch's ``DiscreteVAE`` with its default architecture (hidden 64, codebook_dim 512, no
  resblocks, temperature 0.9, soft gumbel-softmax, MSE on normalised pixels) at the same grid and codebook, trained
  as its ``train_vae.py`` does (Adam 1e-3, learning rate x0.98 and temperature annealing every 100 steps, from 1 to
  at least 0.5), at the same batch as the first recipe. It needs ``make bench-stage1-env`` (dalle-pytorch pulls
  torchvision, which torch 2.13's CPU build here cannot load: that venv has torch 2.14.1 + torchvision 0.29.1).

Usage: ``python benchmarks/bench_stage1.py [--size 32|64] [--minutes 10] [--recipes icons/dvae_32px,...]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import genkit
from genkit.image_metrics import code_usage, psnr_per_image, ssim_per_image
from genkit.images import save_image_grid
from genkit.precision import get_precision
from genkit.recipe.load import load_recipe
from genkit.train.ema import ParameterEMA
from genkit.train.optim import make_optimizer
from genkit.train.schedules import LRSchedule

DEFAULT_RECIPES = {32: "icons/dvae_32px,icons/vqvae_32px", 64: "icons/dvae_64px,icons/vqvae_64px"}


def load_split(folder: Path, split: str) -> torch.Tensor:
    """``uint8[N, 3, S, S]``: every image of ``split`` in a folder dataset's captions.jsonl, in file order."""
    rows = [json.loads(line) for line in (folder / "captions.jsonl").read_text().splitlines() if line.strip()]
    arrays = [np.asarray(Image.open(folder / r["file"]).convert("RGB")) for r in rows if r["split"] == split]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


class GenkitContestant:
    """A genkit autoencoder recipe, trained as its ``stages.autoencoder`` says, on a share-of-budget step."""

    def __init__(self, name: str, size: int, overrides: list[str]) -> None:
        loaded = load_recipe(name.split("@")[0], overrides).recipe  # NAME@TAG: a variant of NAME (see --set)
        self.name, self.settings = name, loaded.stages.autoencoder
        self.model = genkit.build_component("autoencoder", loaded.autoencoder, genkit.BuildContext(image_size=size))
        self.optimizer = make_optimizer(self.model, self.settings)
        self.schedule = LRSchedule(self.settings)
        self.batch, self.precision = self.settings.batch, get_precision(self.settings.precision)
        self.ema = ParameterEMA(self.model, self.settings.ema) if self.settings.ema else None

    def train_step(self, images: torch.Tensor, share: float) -> float:
        step = max(1, round(share * self.settings.steps))
        self.schedule.apply(self.optimizer, step)
        self.model.train()
        with self.precision.autocast(images.device):  # the stage's precision (bf16 autocast runs on CPUs too)
            loss, _ = self.model.training_loss(images, step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update()
        return float(loss.detach())

    @torch.no_grad()
    def codes_and_images(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.ema is not None:  # what the trainer exports: the EMA weights
            parameters = dict(self.model.named_parameters())
            for name, shadow in self.ema.shadow.items():
                parameters[name].copy_(shadow)
            self.ema = None
        self.model.eval()
        codes = self.model.encode(images)
        return codes, self.model.decode(codes).clamp(0, 1)


class DiscreteVAEContestant:
    """dalle-pytorch's DiscreteVAE at its defaults, trained as dalle-pytorch's train_vae.py trains it."""

    def __init__(self, size: int, grid: int, codes: int, batch: int) -> None:
        from dalle_pytorch import DiscreteVAE

        self.name, self.batch, self.temperature, self.steps = "dalle-pytorch DiscreteVAE", batch, 1.0, 0
        self.model = DiscreteVAE(image_size=size, num_tokens=codes, num_layers=int(math.log2(size // grid)))
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.decay = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=0.98)

    def train_step(self, images: torch.Tensor, share: float) -> float:
        self.model.train()
        loss = self.model(images, return_loss=True, temp=self.temperature)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        if self.steps % 100 == 0:  # train_vae.py: anneal rate 1e-6, temperature floor 0.5, lr decay 0.98
            self.temperature = max(self.temperature * math.exp(-1e-6 * self.steps), 0.5)
            self.decay.step()
        return float(loss.detach())

    @torch.no_grad()
    def codes_and_images(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.model.eval()
        codes = self.model.get_codebook_indices(images)
        return codes, (self.model.decode(codes) * 0.5 + 0.5).clamp(0, 1)


def train_in_turns(
    contestants: list[Any], train: torch.Tensor, budget_s: float, slice_s: float, seed: int
) -> list[dict[str, float]]:
    """Train each contestant for ``budget_s`` CPU seconds, ``slice_s`` at a time in turn; the same batches in the
    same order for all (one generator per contestant, one seed)."""
    spent = [0.0] * len(contestants)
    steps = [0] * len(contestants)
    last_loss = [math.nan] * len(contestants)
    generators = [torch.Generator().manual_seed(seed) for _ in contestants]
    started = time.monotonic()
    while min(spent) < budget_s:
        for k, contestant in enumerate(contestants):
            if spent[k] >= budget_s:
                continue
            begin = time.process_time()
            while time.process_time() - begin < slice_s and spent[k] + time.process_time() - begin < budget_s:
                picks = torch.randint(0, len(train), (contestant.batch,), generator=generators[k])
                images = train[picks].float() / 255
                last_loss[k] = contestant.train_step(images, (spent[k] + time.process_time() - begin) / budget_s)
                steps[k] += 1
            spent[k] += time.process_time() - begin
        done = sum(spent) / (budget_s * len(contestants))
        elapsed = time.monotonic() - started
        eta = elapsed * (1 - done) / max(done, 1e-9)
        print(
            f"  {100 * done:5.1f}%  steps {steps}  loss {[round(v, 4) for v in last_loss]}  eta {eta / 60:.1f} min",
            flush=True,
        )
    records = zip(spent, steps, last_loss, strict=True)
    return [{"cpu_seconds": s, "steps": n, "final_train_loss": v} for s, n, v in records]


@torch.no_grad()
def evaluate(contestant: Any, validation: torch.Tensor, vocab: int) -> tuple[dict[str, float], torch.Tensor]:
    """Validation PSNR/SSIM (mean over images), code usage and perplexity over the split, and the reconstructions."""
    psnrs, ssims, recons, counts = [], [], [], torch.zeros(vocab, dtype=torch.long)
    for batch in validation.split(128):
        images = batch.float() / 255
        codes, recon = contestant.codes_and_images(images)
        counts += torch.bincount(codes.flatten().long(), minlength=vocab)
        psnrs.append(psnr_per_image(recon, images))
        ssims.append(ssim_per_image(recon, images))
        recons.append(recon)
    usage, perplexity = code_usage(counts)
    metrics = {
        "psnr": float(torch.cat(psnrs).mean()),
        "ssim": float(torch.cat(ssims).mean()),
        "code_usage": usage,
        "perplexity": perplexity,
    }
    return metrics, torch.cat(recons)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/icons"), help="icon set (built when absent)")
    parser.add_argument("--size", type=int, default=32, choices=(32, 64), help="image side (default: 32)")
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU minutes per contestant (default: 10)")
    parser.add_argument(
        "--recipes",
        help="comma-separated genkit recipes (default: the icons recipes of --size); "
        "NAME@TAG is a variant of recipe NAME that --set can change",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="RECIPE:KEY=VALUE",
        help="an override for one recipe (or NAME@TAG variant), e.g. icons/fsq_32px@wide:autoencoder.hidden=64",
    )
    parser.add_argument("--no-baseline", action="store_true", help="leave out dalle-pytorch's DiscreteVAE")
    parser.add_argument("--slice", type=float, default=5.0, help="CPU seconds per turn (default: 5)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default: 1, so that threads spinning on a shared machine count no time)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_stage1"), help="grid and results folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder = args.data / f"{args.size}px"
    if not (folder / "captions.jsonl").exists():
        from genkit.data.icon_themes import build_icon_set

        print(f"building the icon set under {args.data} ...", flush=True)
        build_icon_set(args.data, sizes=(32, 64))
    train, validation = load_split(folder, "train"), load_split(folder, "validation")
    torch.manual_seed(args.seed)
    names = (args.recipes or DEFAULT_RECIPES[args.size]).split(",")
    overrides = {name: [o.split(":", 1)[1] for o in args.set if o.split(":", 1)[0] == name] for name in names}
    contestants: list[Any] = [GenkitContestant(name, args.size, overrides[name]) for name in names]
    vocab, grid = contestants[0].model.vocab_size, contestants[0].model.grid[0]
    if not args.no_baseline:
        contestants.append(DiscreteVAEContestant(args.size, grid, vocab, contestants[0].batch))
    print(
        f"{len(train)} train / {len(validation)} validation icons at {args.size} px; {len(contestants)} "
        f"contestants x {args.minutes} CPU minutes; torch {torch.__version__}, {torch.get_num_threads()} threads",
        flush=True,
    )
    trained = train_in_turns(contestants, train, args.minutes * 60, args.slice, args.seed)
    shown = validation[:: max(1, len(validation) // 12)][:12].float() / 255
    rows, results = [shown], []
    for contestant, record in zip(contestants, trained, strict=True):
        metrics, recon = evaluate(contestant, validation, vocab)
        params = sum(p.numel() for p in contestant.model.parameters())
        results.append(
            {
                "contestant": contestant.name,
                "size": args.size,
                "grid": grid,
                "codes": vocab,
                "parameters": params,
                "precision": getattr(contestant, "precision", get_precision("fp32")).name,
                **record,
                **metrics,
            }
        )
        rows.append(recon[:: max(1, len(validation) // 12)][:12])
    if not args.no_baseline:
        for result in results[:-1]:
            result["psnr_gain_db"] = result["psnr"] - results[-1]["psnr"]
    args.out.mkdir(parents=True, exist_ok=True)
    save_image_grid(
        torch.cat(rows), args.out / f"reconstructions_{args.size}px.png", nrow=12, scale=max(1, 64 // args.size)
    )
    with open(args.out / f"results_{args.size}px.jsonl", "w") as log:
        for result in results:
            print(json.dumps(result), flush=True)
            log.write(json.dumps(result) + "\n")
    print(
        f"grid (rows: originals, then {', '.join(c.name for c in contestants)}): "
        f"{args.out / f'reconstructions_{args.size}px.png'}"
    )


if __name__ == "__main__":
    main()

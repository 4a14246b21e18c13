"""``genkit eval``: one JSON object of quality metrics for a finished run.

- ``faithfulness``: share of held-out captions whose top-1 reranked sample shows the right colour and shape for
  every object of the caption, judged by the dataset's judge (the ``genkit_select_judge`` hook; for the shapes
  data, its generator's pixel checker, no learned model). Data that no plugin judges reports ``null``. The captions
  are the validation split's, each judged once (distinct captions, in split order).
- ``unseen_captions``: share of those captions that no training item has (1.0 with the shapes data's
  ``held_out`` option, whose validation combinations never occur in training).
- ``faithfulness_first``: the same for the first drawn candidate (no reranking), so the reranker's gain shows.
- ``candidates_faithful``: the share of all drawn candidates judged faithful (averaged over the captions): what a
  random pick would score, the prior's own faithfulness measured on every candidate instead of the first only, so
  it is far less noisy than ``faithfulness_first``; ``faithfulness`` above it is the reranker's gain. ``null``
  when the candidates' pixels would exceed :data:`JUDGE_ALL_LIMIT` floats (then only top-1 and first are kept).
- ``attributes`` / ``attributes_first``: per-attribute accuracy (colour, shape, count; position and size over the
  captions that say them; ``all``: every said attribute right).
- ``val_bits_per_image_token``: the prior's image cross-entropy on the validation split, in bits.
- ``psnr``, ``ssim``, ``codebook_usage``: autoencoder reconstruction of the validation split (PSNR of the mean
  squared error, SSIM averaged per image as :mod:`genkit.image_metrics` computes it) and share of codes used.
- ``reranker_top1``: in-batch text->image top-1 retrieval accuracy of the reranker on the validation split.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from genkit.errors import InputError
from genkit.image_metrics import ssim_per_image
from genkit.plugins.build import build_component
from genkit.plugins.context import BuildContext
from genkit.plugins.manager import Plugins, get_plugins
from genkit.recipe import load_recipe
from genkit.roles import Dataset, Example, Judge
from genkit.sample.pipeline import Pipeline

SSIM_WINDOW = 11
JUDGE_ALL_LIMIT = 1 << 26  # floats (256 MB) of decoded candidates held at once to judge them all


def load_run_recipe(run_dir: Path, plugins: Plugins) -> Any:
    resolved = run_dir / "recipe.resolved.yaml"
    if not resolved.exists():
        raise InputError(f"{run_dir}: no recipe.resolved.yaml (not a `genkit run` directory)")
    return load_recipe(resolved, (), plugins).recipe


def load_validation(dataset: Dataset, limit: int) -> list[Example]:
    split = dataset.split("validation")
    return [split[i] for i in range(min(limit, len(split)))]


def distinct_captions(examples: list[Example]) -> list[Example]:
    """The first example of each caption, in order."""
    first: dict[str, Example] = {}
    for example in examples:
        first.setdefault(example.caption, example)
    return list(first.values())


@torch.no_grad()
def reconstruction(pipeline: Pipeline, images: torch.Tensor, batch: int = 64) -> dict[str, float | None]:
    """``decode(encode(x))`` of ``images``: PSNR of the mean squared error, mean SSIM per image (images of at least
    11 px a side, else None), and the share of codes used."""
    squared, used = 0.0, torch.zeros(pipeline.autoencoder.vocab_size, dtype=torch.bool)
    ssims = []
    for part in torch.split(images, batch):
        codes = pipeline.autoencoder.encode(part)
        used[torch.unique(codes)] = True
        decoded = pipeline.autoencoder.decode(codes).clamp(0, 1)
        squared += float(((decoded - part) ** 2).sum())
        if min(part.shape[-2:]) >= SSIM_WINDOW:
            ssims.append(ssim_per_image(decoded, part))
    mse = squared / images.numel()
    return {
        "psnr": 10 * math.log10(1.0 / max(mse, 1e-12)),
        "mse": mse,
        "ssim": float(torch.cat(ssims).mean()) if ssims else None,
        "codebook_usage": float(used.float().mean()),
    }


@torch.no_grad()
def prior_bits(pipeline: Pipeline, images: torch.Tensor, captions: list[str], batch: int = 64) -> float:
    total, count = 0.0, 0
    for start in range(0, len(captions), batch):
        part = images[start : start + batch]
        text = pipeline.tokenizer.encode(captions[start : start + batch])
        _, metrics = pipeline.prior.loss(text.ids, text.lengths, pipeline.autoencoder.encode(part))
        total += float(metrics["image_loss"]) * part.shape[0]
        count += part.shape[0]
    return total / count / math.log(2)


@torch.no_grad()
def reranker_top1(pipeline: Pipeline, images: torch.Tensor, captions: list[str], batch: int = 64) -> float | None:
    if pipeline.reranker is None:
        return None
    values = []
    for start in range(0, len(captions) - batch + 1, batch) or [0]:
        text = pipeline.tokenizer.encode(captions[start : start + batch])
        metrics = pipeline.reranker.validation_metrics(text.ids, text.lengths, images[start : start + batch])
        values.append(float(metrics["top1_text_to_image"]))
    return sum(values) / len(values)


def faithfulness(
    pipeline: Pipeline, judge: Judge, examples: list[Example], candidates: int, seed: int, **sampling: Any
) -> dict[str, Any]:
    """Judge the top-1 reranked and the first drawn candidate of each example's caption with ``judge`` (from the
    ``genkit_select_judge`` hook), and every candidate (``candidates_faithful``) unless their pixels exceed
    :data:`JUDGE_ALL_LIMIT` floats; ``sampling``: temperature, top_k, top_p, guidance."""
    pixels = examples[0].image.numel() if examples else 0
    judge_all = len(examples) * candidates * pixels <= JUDGE_ALL_LIMIT
    results = pipeline.sample(
        [e.caption for e in examples],
        candidates=candidates,
        keep=candidates if judge_all else 1,
        seed=seed,
        warn=lambda message: None,
        **sampling,
    )  # eval judges the captions as the data gives them; keep only changes what is returned, not what is drawn
    # every kept candidate judged once, best first: the top-1 only, or all of them with judge_all
    verdicts = [[judge.judge(image, e) for image in r.images] for r, e in zip(results, examples, strict=True)]
    best = [kept[0] for kept in verdicts]
    first = []
    for r, e in zip(results, examples, strict=True):
        assert r.first_image is not None  # Pipeline.sample always sets it
        first.append(judge.judge(r.first_image, e))
    every = None
    if judge_all:
        shares = [sum(float(v["faithful"] or 0.0) for v in kept) / len(kept) for kept in verdicts]
        every = sum(shares) / len(shares)

    def summary(scores: list[dict[str, float | None]]) -> tuple[float, dict[str, float | None]]:
        correct = sum(float(s["faithful"] or 0.0) for s in scores) / len(scores)
        attributes = {}
        for key in [key for key in scores[0] if key != "faithful"]:
            judged = [float(v) for s in scores if (v := s.get(key)) is not None]  # where the caption says it
            attributes[key] = sum(judged) / len(judged) if judged else None
        return correct, attributes

    top, top_attributes = summary(best)
    plain, plain_attributes = summary(first)
    return {
        "faithfulness": top,
        "faithfulness_first": plain,
        "candidates_faithful": every,
        "attributes": top_attributes,
        "attributes_first": plain_attributes,
        "captions": len(examples),
        "candidates": candidates,
    }


SEEDED = ("faithfulness", "faithfulness_first", "candidates_faithful")


def mean_over_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One :func:`faithfulness` report from several seeds' reports: the mean of each figure and of each attribute
    (``None`` stays ``None``); the rest as the first report has it."""

    def mean(values: list[Any]) -> float | None:
        known = [v for v in values if v is not None]
        return sum(known) / len(known) if known else None

    out = dict(runs[0])
    for key in SEEDED:
        out[key] = mean([r[key] for r in runs])
    for group in ("attributes", "attributes_first"):
        out[group] = {name: mean([r[group][name] for r in runs]) for name in runs[0][group]}
    return out


def evaluate_run(
    run_dir: str | Path,
    *,
    captions: int = 64,
    candidates: int | None = None,
    seed: int = 0,
    seeds: int = 1,
    plugins: Plugins | None = None,
) -> dict[str, Any]:
    """The metrics of the module docstring. Sampling uses the run's ``stages.sample`` settings (temperature,
    top_k, top_p, guidance, candidates) when the recipe has them; ``candidates`` overrides the count.

    ``seeds`` > 1 draws the candidates with sampling seeds ``seed .. seed + seeds - 1``: the faithfulness figures
    (and each attribute's accuracy) are then their means over the seeds, and ``per_seed`` holds each seed's
    ``faithfulness``, ``faithfulness_first`` and ``candidates_faithful``."""
    if seeds < 1:
        raise InputError(f"seeds {seeds}: must be at least 1")
    plugins = plugins or get_plugins()
    run_dir = Path(run_dir)
    pipeline = Pipeline.from_run(run_dir, plugins)
    recipe = load_run_recipe(run_dir, plugins)
    sample = recipe.stages.sample
    sampling = {} if sample is None else {k: getattr(sample, k) for k in ("temperature", "top_k", "top_p", "guidance")}
    candidates = candidates or (sample.candidates if sample is not None else 16)
    dataset = build_component("dataset", recipe.data, BuildContext(), plugins)
    examples = load_validation(dataset, max(captions, 256))
    images = torch.stack([e.image for e in examples])
    texts = [e.caption for e in examples]
    report: dict[str, Any] = {"run": str(run_dir)}
    report.update(reconstruction(pipeline, images))
    report["val_bits_per_image_token"] = prior_bits(pipeline, images, texts)
    report["reranker_top1"] = reranker_top1(pipeline, images, texts)
    judge = plugins.hook.genkit_select_judge(data=recipe.data)
    judged = distinct_captions([e for e in examples if judge.judges(e)])[:captions] if judge is not None else []
    if judge is not None and judged:
        runs = [faithfulness(pipeline, judge, judged, candidates, seed + k, **sampling) for k in range(seeds)]
        report.update(mean_over_seeds(runs))
        if seeds > 1:
            report["seeds"] = [seed + k for k in range(seeds)]
            report["per_seed"] = {key: [r[key] for r in runs] for key in SEEDED}
        trained_on = set(dataset.captions("train"))
        report["unseen_captions"] = sum(e.caption not in trained_on for e in judged) / len(judged)
    else:
        report.update(
            faithfulness=None,
            faithfulness_first=None,
            candidates_faithful=None,
            note="no installed plugin judges this dataset",
        )
    return report

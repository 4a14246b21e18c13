"""The contrastive reranker inside genkit: the built-in recipes that name it, and a stage run by `genkit run`."""

from __future__ import annotations

import json

import pytest
import torch

import genkit
from genkit.recipe import builtin_recipes


def _recipes_with_reranker():
    found = []
    for name, path in builtin_recipes().items():
        try:
            loaded = genkit.load_recipe(str(path))
        except genkit.GenkitError:
            continue  # recipes needing plugins that are not installed here are someone else's concern
        if loaded.recipe.reranker is not None and loaded.recipe.reranker.kind == "contrastive":
            found.append(pytest.param(loaded, id=name))
    return found


@pytest.mark.parametrize("loaded", _recipes_with_reranker())
def test_builtin_recipe_reranker_builds_and_scores(loaded):
    recipe = loaded.recipe
    context = genkit.BuildContext(
        image_size=recipe.data.size,
        text_vocab_size=recipe.tokenizer.vocab_size,
        text_length=recipe.tokenizer.max_length,
    )
    model = genkit.build_component("reranker", recipe.reranker, context)
    ids = torch.randint(0, context.text_vocab_size, (2, context.text_length))
    scores = model.score(
        ids, torch.tensor([3, context.text_length]), torch.rand(2, 3, context.image_size, context.image_size)
    )
    assert scores.shape == (2,) and bool(torch.isfinite(scores).all())


@pytest.mark.slow
def test_reranker_stage_trains_and_exports(tmp_path):
    """`genkit run` trains the reranker stage on shapes and exports a reranker that load_component restores."""
    from genkit.cli import main

    recipe = tmp_path / "reranker.yaml"
    recipe.write_text(
        "seed: 0\n"
        "data: {kind: shapes, size: 32, count: 1024, validation_count: 64, max_shapes: 1}\n"
        "tokenizer: {kind: bpe, vocab_size: 300, max_length: 16, dropout: 0.0}\n"
        "reranker: {kind: contrastive, width: 64, depth: 1, heads: 4, image_widths: [16, 32, 64], embed_dim: 64}\n"
        "stages:\n"
        "  reranker: {steps: 200, batch: 32, lr: 2e-3, warmup: 20, validate_every: 100, checkpoint_every: 100}\n"
    )
    out = tmp_path / "run"
    assert main(["run", str(recipe), "--out", str(out)]) == 0
    final = json.loads((out / "reranker" / "final.json").read_text())
    text = json.dumps(final)
    assert "top1_text_to_image" in text
    reranker = genkit.load_component(out / "export", "reranker")
    tokenizer = genkit.load_component(out / "export", "tokenizer")
    data = genkit.build_component(
        "dataset",
        genkit.make_params("dataset", "shapes", {"size": 32, "count": 1024, "validation_count": 64, "max_shapes": 1}),
    )
    examples = [data.split("validation")[i] for i in range(32)]
    batch = tokenizer.encode([e.caption for e in examples])
    images = torch.stack([e.image for e in examples])
    metrics = reranker.validation_metrics(batch.ids, batch.lengths, images)
    assert metrics["top1_text_to_image"] > 3 / 32 and metrics["top1_image_to_text"] > 3 / 32, metrics

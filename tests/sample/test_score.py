"""Pipeline.score(texts, images): the reranker's score of plain (caption, image) pairs (export in conftest.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import genkit


def test_one_float_score_per_pair(pipeline):
    images = torch.rand(5, 3, 16, 16)
    scores = pipeline.score(["a red circle", "a blue square", "a red circle", "a yellow diamond", ""], images)
    assert isinstance(scores, torch.Tensor) and scores.shape == (5,) and scores.dtype == torch.float32
    assert scores.device.type == "cpu" and torch.isfinite(scores).all()
    assert pipeline.score([], torch.rand(0, 3, 16, 16)).shape == (0,)


def test_equals_the_rerankers_own_score_on_tokenized_ids(pipeline):
    texts = ["a red circle", "a small green triangle", "a red circle", "a blue square at the top left"]
    images = torch.rand(4, 3, 16, 16)
    text = pipeline.tokenizer.encode(texts)
    expected = pipeline.reranker.score(text.ids, text.lengths, images)
    assert torch.equal(pipeline.score(texts, images), expected.float())  # same batch, same ids: bit for bit
    # tokenize (shared with sample) gives the tokenizer's ids, repeated captions included
    tokens = pipeline.tokenize(texts)
    assert torch.equal(tokens.ids, text.ids) and torch.equal(tokens.lengths, text.lengths)


def test_batching_does_not_change_the_scores(pipeline):
    texts = [f"a red circle {i}" for i in range(7)]
    images = torch.rand(7, 3, 16, 16)
    whole = pipeline.score(texts, images)
    assert torch.allclose(pipeline.score(texts, images, batch_size=3), whole, rtol=0, atol=1e-6)
    assert torch.allclose(pipeline.score(texts, images, batch_size=1), whole, rtol=0, atol=1e-6)


def test_sample_scores_are_the_scores_of_the_kept_images(pipeline):
    prompts = ["a red circle", "a small green triangle"]
    for result in pipeline.sample(prompts, candidates=5, keep=3, seed=4):
        rescored = pipeline.score([result.prompt] * len(result.indices), result.images)
        assert result.scores == pytest.approx(rescored.tolist(), abs=1e-6)


@pytest.mark.parametrize(
    "texts, images, message",
    [
        (["a red circle", "a blue square"], torch.rand(3, 3, 16, 16), "2 texts but 3 images"),
        ("a red circle", torch.rand(1, 3, 16, 16), "not one string"),
        ([1, 2], torch.rand(2, 3, 16, 16), "list of strings"),
        (["a red circle"], torch.rand(3, 16, 16), r"float \[N, 3, 16, 16\] in \[0, 1\]"),
        (["a red circle"], torch.rand(1, 3, 32, 32), r"got torch.float32 \[1, 3, 32, 32\]"),
        (["a red circle"], torch.rand(1, 1, 16, 16), r"\[1, 1, 16, 16\]"),
        (["a red circle"], torch.randint(0, 255, (1, 3, 16, 16), dtype=torch.uint8), "torch.uint8"),
        (["a red circle"], torch.linspace(0, 255, 768).reshape(1, 3, 16, 16), r"values in \[0, 255\]"),
        (["a red circle"], torch.full((1, 3, 16, 16), float("nan")), "NaN"),
        (["a red circle"], [[0.5]], "must be a torch.Tensor"),
    ],
)
def test_bad_inputs_are_one_line_input_errors(pipeline, texts, images, message):
    with pytest.raises(genkit.InputError, match=message) as error:
        pipeline.score(texts, images)
    assert "\n" not in str(error.value) and str(error.value).startswith("score: ")


def test_a_run_without_reranker_cannot_score_but_still_samples(pipeline):
    bare = dataclasses.replace(pipeline, reranker=None)
    with pytest.raises(genkit.InputError, match="no reranker") as error:
        bare.score(["a red circle"], torch.rand(1, 3, 16, 16))
    assert "\n" not in str(error.value)
    with pytest.raises(genkit.InputError, match="no reranker"):
        bare.score_tokens(
            torch.zeros(1, 12, dtype=torch.long), torch.ones(1, dtype=torch.long), torch.rand(1, 3, 16, 16)
        )
    result = bare.sample(["a red circle"], candidates=3, keep=2, seed=0)[0]
    assert result.scores is None and result.indices == [0, 1]

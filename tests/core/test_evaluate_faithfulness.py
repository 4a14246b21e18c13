"""genkit.evaluate.faithfulness on a pipeline whose candidates are known: top-1, first drawn and the share of all
candidates judged faithful."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import genkit.evaluate as evaluate
from genkit.errors import InputError
from genkit.roles import Example
from genkit.sample.pipeline import PromptSamples


class ValueJudge:
    """Faithful when the image's mean is above one half (candidates are constant images)."""

    def judges(self, example: Example) -> bool:
        return True

    def judge(self, image: torch.Tensor, example: Example) -> dict[str, float | None]:
        right = float(image.mean() > 0.5)
        return {"faithful": right, "shape": right}


class KnownCandidates:
    """Stands in for a Pipeline: caption i's candidates are constant images, bright where ``right[i][j]``; the
    reranker's order is ``order[i]`` (best first)."""

    def __init__(self, right: list[list[bool]], order: list[list[int]]) -> None:
        self.right, self.order, self.calls = right, order, []

    def sample(self, prompts, *, candidates, keep, seed, warn, **sampling):
        self.calls.append(keep)
        out = []
        for i, prompt in enumerate(prompts):
            drawn = torch.stack([torch.full((3, 4, 4), 0.9 if r else 0.1) for r in self.right[i]])
            ranked = self.order[i][:keep]
            out.append(
                PromptSamples(
                    prompt=prompt,
                    images=drawn[ranked],
                    codes=torch.zeros(keep, 1, 1, dtype=torch.long),
                    scores=[0.0] * keep,
                    indices=ranked,
                    candidates=candidates,
                    first_image=drawn[0],
                )
            )
        return out


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_top1_first_and_every_candidate_are_judged(data):
    captions = data.draw(st.integers(1, 5))
    candidates = data.draw(st.integers(1, 6))
    right = [data.draw(st.lists(st.booleans(), min_size=candidates, max_size=candidates)) for _ in range(captions)]
    order = [data.draw(st.permutations(range(candidates))) for _ in range(captions)]
    examples = [Example(torch.zeros(3, 4, 4), f"caption {i}", {}) for i in range(captions)]
    pipeline = KnownCandidates(right, order)
    report = evaluate.faithfulness(pipeline, ValueJudge(), examples, candidates, 0)
    assert pipeline.calls == [candidates]
    assert report["faithfulness"] == sum(r[o[0]] for r, o in zip(right, order, strict=True)) / captions
    assert report["faithfulness_first"] == sum(r[0] for r in right) / captions
    expected = sum(sum(r) / candidates for r in right) / captions
    assert abs(report["candidates_faithful"] - expected) < 1e-12
    assert report["attributes"]["shape"] == report["faithfulness"]


def test_too_many_pixels_keeps_only_the_best_and_reports_no_share(monkeypatch):
    monkeypatch.setattr(evaluate, "JUDGE_ALL_LIMIT", 3 * 4 * 4 * 4 - 1)  # one caption of 4 candidates is too many
    examples = [Example(torch.zeros(3, 4, 4), "a caption", {})]
    pipeline = KnownCandidates([[False, True, True, False]], [[1, 0, 2, 3]])
    report = evaluate.faithfulness(pipeline, ValueJudge(), examples, 4, 0)
    assert pipeline.calls == [1]
    assert report["faithfulness"] == 1.0 and report["faithfulness_first"] == 0.0
    assert report["candidates_faithful"] is None


def test_several_seeds_report_the_mean_of_each_figure():
    examples = [Example(torch.zeros(3, 4, 4), f"caption {i}", {}) for i in range(2)]
    one = evaluate.faithfulness(
        KnownCandidates([[True, False], [True, True]], [[1, 0], [0, 1]]), ValueJudge(), examples, 2, 0
    )
    two = evaluate.faithfulness(
        KnownCandidates([[False, False], [True, False]], [[0, 1], [0, 1]]), ValueJudge(), examples, 2, 1
    )
    mean = evaluate.mean_over_seeds([one, two])
    assert (one["faithfulness"], two["faithfulness"]) == (0.5, 0.5) and mean["faithfulness"] == 0.5
    assert (one["faithfulness_first"], two["faithfulness_first"]) == (1.0, 0.5) and mean["faithfulness_first"] == 0.75
    assert (one["candidates_faithful"], two["candidates_faithful"]) == (0.75, 0.25)
    assert mean["candidates_faithful"] == 0.5 and mean["attributes"]["shape"] == 0.5
    assert mean["captions"] == 2 and evaluate.mean_over_seeds([one]) == one


def test_seeds_below_one_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="seeds 0: must be at least 1"):
        evaluate.evaluate_run(tmp_path, seeds=0)

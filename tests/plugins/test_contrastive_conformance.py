"""The contrastive reranker against genkit's reranker conformance suite, plus its own contracts."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_budget import costly

import genkit
from genkit.testing import RerankerCase, RerankerSuite

SMALL = {"width": 32, "depth": 1, "heads": 2, "image_widths": [8, 16], "groups": 4, "embed_dim": 16}
CONTEXT = genkit.BuildContext(image_size=16, text_vocab_size=40, text_length=6)


def small_model(**changes):
    params = genkit.make_params("reranker", "contrastive", {**SMALL, **changes})
    return params, genkit.build_component("reranker", params, CONTEXT)


def inputs():
    """A batch of random (ids, lengths, images) in CONTEXT's shapes, as the suite's checks draw them."""
    return RerankerCase(params=None, context=CONTEXT).inputs()


class TestContrastive(RerankerSuite):
    kind = "contrastive"
    params = SMALL
    context = CONTEXT


class TestContrastiveScaledScoresFixedTemperature(TestContrastive):
    params = {**SMALL, "score_scaled": True, "learn_temperature": False}
    batch = 3
    seed = 5


@costly(10)  # every example builds a reranker and scores twice (~30 ms on a 2-core CPU)
@given(lengths=st.lists(st.integers(0, CONTEXT.text_length), min_size=1, max_size=5), seed=st.integers(0, 2**16))
def test_padding_never_matters(lengths, seed):
    """Whatever sits at positions >= length (here: random ids) leaves every score unchanged."""
    torch.manual_seed(0)
    _, model = small_model()
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    ids = torch.randint(0, CONTEXT.text_vocab_size, (len(lengths), CONTEXT.text_length), generator=gen)
    images = torch.rand(len(lengths), 3, 16, 16, generator=gen)
    padded = ids.masked_fill(torch.arange(CONTEXT.text_length)[None, :] >= lengths[:, None], 0)
    assert torch.allclose(model.score(ids, lengths, images), model.score(padded, lengths, images), atol=1e-6)


def test_score_is_cosine_and_scaled_score_uses_learned_temperature():
    torch.manual_seed(0)
    _, plain = small_model()
    _, scaled = small_model(score_scaled=True)
    scaled.load_state_dict(plain.state_dict())
    ids, lengths, images = inputs()
    cosine = plain.score(ids, lengths, images)
    assert bool((cosine.abs() <= 1 + 1e-5).all())
    expected = (plain.embed_texts(ids, lengths) * plain.embed_images(images)).sum(-1)
    assert torch.allclose(cosine, expected.detach(), atol=1e-6)
    with torch.no_grad():
        scaled.logit_scale.fill_(2.0)
    assert torch.allclose(scaled.score(ids, lengths, images), cosine * torch.e**2, atol=1e-5)


def test_temperature_is_clamped_and_learned():
    torch.manual_seed(0)
    _, model = small_model(max_logit_scale=20.0, init_temperature=0.1)
    assert model.scale().item() == pytest.approx(10.0, rel=1e-5)
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    assert model.scale().item() == pytest.approx(20.0, rel=1e-5)
    with torch.no_grad():
        model.logit_scale.fill_(1.0)
    ids, lengths, images = inputs()
    loss, metrics = model.training_loss(ids, lengths, images)
    loss.backward()
    assert model.logit_scale.grad is not None and model.logit_scale.grad.abs().item() > 0
    assert metrics["temperature"] == pytest.approx(1 / torch.e, rel=1e-5)
    _, fixed = small_model(learn_temperature=False)
    assert not fixed.logit_scale.requires_grad


def test_residual_branches_return_updates_of_the_stream_shape():
    """Each branch maps the residual stream to an update of the same shape; the caller adds it."""
    torch.manual_seed(0)
    _, model = small_model()
    stream = torch.randn(2, CONTEXT.text_length + 1, SMALL["width"])
    keep = torch.ones(2, 1, 1, CONTEXT.text_length + 1, dtype=torch.bool)
    branches = model.residual_blocks()
    text_branches = branches[: 2 * SMALL["depth"]]
    for branch in text_branches:
        update = branch(stream, keep) if "Attention" in type(branch).__name__ else branch(stream)
        assert update.shape == stream.shape
    for branch, stage_width in zip(branches[2 * SMALL["depth"] :], SMALL["image_widths"], strict=False):
        x = torch.randn(2, stage_width, 8, 8)
        assert branch(x).shape == x.shape
    # the stage adds the branch's output to its stream: zeroing the branch makes the stage its entry conv
    stage = model.image.stages[0]
    with torch.no_grad():
        for p in stage.branches.parameters():
            p.zero_()
    x = torch.rand(2, 3, 16, 16)
    assert torch.allclose(stage(x), stage.entry(x))
    assert len(model.shard_units()) == SMALL["depth"] + len(SMALL["image_widths"])


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"width": 30, "heads": 4}, "heads"),
        ({"image_widths": [8, 12], "groups": 8}, "groups"),
        ({"init_temperature": 0.001}, "max_logit_scale"),
        ({"widht": 64}, "widht"),
        ({"depth": 0}, "depth"),
    ],
)
def test_bad_params_are_one_line_input_errors(values, key):
    with pytest.raises(genkit.InputError, match=key) as info:
        genkit.make_params("reranker", "contrastive", values)
    assert "\n" not in str(info.value)


def test_build_needs_tokenizer_and_image_size():
    params = genkit.make_params("reranker", "contrastive", SMALL)
    with pytest.raises(genkit.InputError, match="text_vocab_size"):
        genkit.build_component("reranker", params, genkit.BuildContext(image_size=16))
    with pytest.raises(genkit.InputError, match="image_size"):
        genkit.build_component("reranker", params, genkit.BuildContext(text_vocab_size=10, text_length=4))


def test_rejects_ids_outside_vocabulary_and_too_long_text():
    _, model = small_model()
    images = torch.rand(1, 3, 16, 16)
    with pytest.raises(genkit.InputError, match="vocab"):
        model.score(torch.tensor([[CONTEXT.text_vocab_size, 0, 0, 0, 0, 0]]), torch.tensor([1]), images)
    with pytest.raises(genkit.InputError, match="text_length"):
        model.score(torch.zeros(1, CONTEXT.text_length + 1, dtype=torch.long), torch.tensor([1]), images)


def test_registered_through_the_entry_point():
    plugins = genkit.get_plugins()
    spec = plugins.registry.get("reranker", "contrastive")
    assert spec.owner == "contrastive"
    assert plugins.infos["contrastive"].distribution == "genkit-contrastive"
    for name, field in spec.params.model_fields.items():
        assert field.description, f"ContrastiveParams.{name} has no description"


class _Broken(TestContrastive):
    """The contrastive model with one contract broken, to show that the suite notices (not collected)."""

    breakage = ""

    def build(self, case):
        model = super().build(case)
        if self.breakage == "ignores_lengths":
            text_forward = model.text.forward
            model.text.forward = lambda ids, lengths: text_forward(ids, torch.full_like(lengths, ids.shape[1]))
        elif self.breakage == "batch_statistics":
            image_forward = model.image.forward
            model.image.forward = lambda images: (lambda f: f - f.mean(0, keepdim=True))(image_forward(images))
        elif self.breakage == "detached_weight":  # one weight that never receives a gradient
            mlp = model.text.blocks[0].mlp
            mlp.forward = lambda x: mlp.proj(
                torch.nn.functional.gelu(torch.nn.functional.linear(mlp.norm(x), mlp.fc.weight.detach(), mlp.fc.bias))
            )
        return model


@pytest.mark.parametrize(
    ("breakage", "check"),
    [
        ("ignores_lengths", "padding_ignored"),
        ("batch_statistics", "score_batch_independent"),
        ("detached_weight", "training_loss"),
    ],
)
def test_suite_catches_broken_rerankers(breakage, check, tmp_path):
    suite = type("Broken", (_Broken,), {"breakage": breakage})()
    with pytest.raises(AssertionError, match=f"reranker conformance, check '{check}' \\(contrastive\\): "):
        getattr(suite, f"test_{check}")(suite.make_case(tmp_path))


def test_scale_is_a_scalar_and_old_scalar_checkpoints_load():
    _, model = small_model()
    assert model.logit_scale.shape == (1,)  # FSDP2 shards along dim 0: no 0-d parameters
    assert model.scale().dim() == 0
    state = dict(model.state_dict())
    state["logit_scale"] = torch.tensor(1.5)  # the shape checkpoints had before
    model.load_state_dict(state)
    assert model.logit_scale.item() == pytest.approx(1.5)

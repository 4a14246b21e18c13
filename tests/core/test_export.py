"""The export format: round trip through the registry, and one-line errors for broken exports."""

from __future__ import annotations

import json

import pytest
import torch

import genkit
from genkit.plugins.context import BuildContext


@pytest.fixture
def exported(tmp_path, toy_plugins):
    params = genkit.make_params("autoencoder", "toy_ae", {"hidden": 6, "codebook_size": 12}, toy_plugins)
    context = BuildContext(image_size=16)
    model = genkit.build_component("autoencoder", params, context, toy_plugins)
    with torch.no_grad():
        model.usage.copy_(torch.arange(12.0))
    model.note = "trained"
    genkit.save_component(tmp_path / "export", "autoencoder", model, params, context, toy_plugins)
    return tmp_path / "export", model


def test_round_trip_rebuilds_through_the_registry(exported, toy_plugins):
    export_dir, original = exported
    loaded = genkit.load_component(export_dir, "autoencoder", toy_plugins)
    assert type(loaded) is type(original) and not loaded.training
    for key, value in original.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert loaded.note == "trained" and loaded.grid == (4, 4)
    images = torch.rand(3, 3, 16, 16)
    assert torch.equal(loaded.encode(images), original.encode(images))
    index = json.loads((export_dir / "model_index.json").read_text())
    assert index["autoencoder"]["kind"] == "toy_ae" and index["autoencoder"]["plugin"] == "test_plugin_0"
    config = json.loads((export_dir / "autoencoder" / "config.json").read_text())
    assert config["params"] == {"hidden": 6, "codebook_size": 12, "downsample": 4}
    assert config["context"]["image_size"] == 16


def test_resaving_replaces_the_role_atomically_and_keeps_other_roles(exported, toy_plugins):
    export_dir, model = exported
    params = genkit.make_params("autoencoder", "toy_ae", {"hidden": 6, "codebook_size": 12}, toy_plugins)
    index_before = json.loads((export_dir / "model_index.json").read_text())
    index_before["tokenizer"] = {"kind": "x", "plugin": "y", "plugin_version": "z"}
    (export_dir / "model_index.json").write_text(json.dumps(index_before))
    genkit.save_component(export_dir, "autoencoder", model, params, BuildContext(image_size=16), toy_plugins)
    index = json.loads((export_dir / "model_index.json").read_text())
    assert set(index) == {"autoencoder", "tokenizer"}
    assert sorted(p.name for p in export_dir.iterdir()) == ["autoencoder", "model_index.json"]


def test_no_pickle_anywhere_in_an_export(exported):
    export_dir, _ = exported
    for path in export_dir.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"


def test_truncated_weights_give_a_one_line_error(exported, toy_plugins):
    export_dir, _ = exported
    weights = export_dir / "autoencoder" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-40])
    with pytest.raises(genkit.ExportError, match=r"model.safetensors: truncated or corrupt") as info:
        genkit.load_component(export_dir, "autoencoder", toy_plugins)
    assert "\n" not in str(info.value)


def test_weights_that_do_not_fit_the_config(exported, toy_plugins):
    export_dir, _ = exported
    config_path = export_dir / "autoencoder" / "config.json"
    config = json.loads(config_path.read_text())
    config["params"]["hidden"] = 7
    config_path.write_text(json.dumps(config))
    with pytest.raises(genkit.ExportError, match=r"model.safetensors: weights do not") as info:
        genkit.load_component(export_dir, "autoencoder", toy_plugins)
    assert "\n" not in str(info.value) and "size mismatch for " in str(info.value)  # names the tensor


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda d: (d / "model_index.json").unlink(), r"model_index.json: no such file"),
        (lambda d: (d / "model_index.json").write_text("{not json"), r"model_index.json: not valid JSON"),
        (
            lambda d: (d / "autoencoder" / "config.json").write_text('{"kind": "dvae9", "params": {}}'),
            r"needs autoencoder kind 'dvae9'",
        ),
        (
            lambda d: (d / "autoencoder" / "config.json").write_text('{"kind": "toy_ae", "params": {"hiden": 1}}'),
            r"config.json: params.hiden: Extra inputs",
        ),
        (lambda d: (d / "autoencoder" / "model.safetensors").unlink(), r"model.safetensors: no such file"),
    ],
    ids=["no_index", "bad_index", "unknown_kind", "bad_params", "no_weights"],
)
def test_broken_exports(exported, toy_plugins, damage, expected):
    export_dir, _ = exported
    damage(export_dir)
    with pytest.raises(genkit.ExportError, match=expected):
        genkit.load_component(export_dir, "autoencoder", toy_plugins)


def test_missing_role(exported, toy_plugins):
    export_dir, _ = exported
    with pytest.raises(genkit.ExportError, match=r"no 'prior' in this export \(it has: autoencoder\)"):
        genkit.load_component(export_dir, "prior", toy_plugins)

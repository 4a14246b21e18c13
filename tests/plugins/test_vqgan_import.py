"""``genkit import vqgan``: a taming VQModel / GumbelVQ (tests/plugins/vqgan_reference.py, the reference) with
random weights, saved as a Lightning checkpoint, imported without executing pickle, matches the reference."""

import os

import pytest
import torch
import yaml

import genkit
from genkit.cli import main
from genkit_vqgan.import_command import import_vqgan

from .vqgan_reference import VQModel

DDCONFIG = {
    "double_z": False,
    "z_channels": 8,
    "resolution": 16,
    "in_channels": 3,
    "out_ch": 3,
    "ch": 32,
    "ch_mult": [1, 2],
    "num_res_blocks": 1,
    "attn_resolutions": [8],
    "dropout": 0.0,
}
TARGETS = {False: "taming.models.vqgan.VQModel", True: "taming.models.vqgan.GumbelVQ"}
N_EMBED = 64


class ModelCheckpoint:
    """Stands for a Lightning callback class: Lightning keys ``callbacks`` by class (a pickled global)."""


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _reference(gumbel):
    torch.manual_seed(0)
    ref = VQModel(DDCONFIG, N_EMBED, 8, gumbel=gumbel).eval()
    with torch.no_grad():
        for param in ref.parameters():  # GroupNorm affine and biases too, so that every mapping is exercised
            param.add_(torch.randn_like(param) * 0.1)
    return ref


def _save(tmp_path, ref, gumbel, **extra):
    state = ref.state_dict()
    state["loss.discriminator.main.0.weight"] = torch.zeros(4, 3, 4, 4)  # taming's training-only entries
    state["loss.logvar"] = torch.zeros(())
    ckpt = {
        "state_dict": state,
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": "1.9.5",
        "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(0.5)}},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-4}]}],
        "lr_schedulers": [],
        **extra,
    }
    path, config = tmp_path / "last.ckpt", tmp_path / "model.yaml"
    torch.save(ckpt, path)
    params = {"embed_dim": 8, "n_embed": N_EMBED, "ddconfig": DDCONFIG, "lossconfig": {"target": "x.Y"}}
    config.write_text(
        yaml.safe_dump({"model": {"base_learning_rate": 4.5e-6, "target": TARGETS[gumbel], "params": params}})
    )
    return path, config


@pytest.mark.parametrize("gumbel", [False, True], ids=["vqmodel", "gumbelvq"])
def test_import_matches_reference(tmp_path, gumbel):
    ref = _reference(gumbel)
    path, config = _save(tmp_path, ref, gumbel)
    _, _, skipped = import_vqgan(path, config, tmp_path / "export")
    assert skipped == [f"{__name__}.ModelCheckpoint"]
    model = genkit.load_component(tmp_path / "export", "autoencoder")
    assert (model.vocab_size, model.grid, model.image_size) == (N_EMBED, (8, 8), 16)
    assert model.params.quantizer == ("gumbel" if gumbel else "vq")
    images = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref_codes = ref.encode(2 * images - 1)
        codes = model.encode(images)
        assert len(ref_codes.unique()) > 4, "degenerate reference: too few distinct codes"
        assert torch.equal(codes, ref_codes)
        random_codes = torch.randint(0, N_EMBED, (3, 8, 8), generator=torch.Generator().manual_seed(2))
        ref_pixels = ((ref.decode_code(random_codes) + 1) / 2).clamp(0, 1)
        torch.testing.assert_close(model.decode(random_codes), ref_pixels, atol=1e-5, rtol=0)


def test_import_command_line(tmp_path, capsys):
    path, config = _save(tmp_path, _reference(False), False)
    out = tmp_path / "cli_export"
    assert main(["import", "vqgan", str(path), "--config", str(config), "--out", str(out), "--image-size", "32"]) == 0
    printed = capsys.readouterr().out
    assert "64 codes, grid 16x16 at 32 px" in printed and "ModelCheckpoint" in printed
    assert (out / "autoencoder" / "model.safetensors").is_file() and (out / "model_index.json").is_file()
    assert main(["import", "vqgan", str(path), "--config", str(path), "--out", str(tmp_path / "bad")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_payload_outside_state_dict_is_skipped_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path, config = _save(tmp_path, _reference(False), False, hyper_parameters={"evil": _Payload(marker)})
    _, _, skipped = import_vqgan(path, config, tmp_path / "export")
    assert f"{os.system.__module__}.system" in skipped
    assert not marker.exists()


def test_payload_in_state_dict_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path, config = _save(tmp_path, _reference(False), False)
    torch.save({"state_dict": {"encoder.conv_in.weight": _Payload(marker)}}, path)
    with pytest.raises(genkit.ExportError) as info:
        import_vqgan(path, config, tmp_path / "export")
    message = str(info.value)
    assert "\n" not in message and f"refused to unpickle global {os.system.__module__}.system" in message
    assert str(path) in message and not marker.exists()


def test_one_line_errors(tmp_path):
    ref = _reference(False)
    path, config = _save(tmp_path, ref, False)
    bad_target = tmp_path / "bad.yaml"
    bad_target.write_text(config.read_text().replace("VQModel", "VQSegmentationModel"))
    with pytest.raises(genkit.ExportError, match="model.target is taming.models.vqgan.VQSegmentationModel"):
        import_vqgan(path, bad_target, tmp_path / "out")
    state = ref.state_dict()
    del state["quant_conv.weight"]
    torch.save({"state_dict": state}, path)
    with pytest.raises(genkit.ExportError, match="missing key state_dict.quant_conv.weight"):
        import_vqgan(path, config, tmp_path / "out")
    torch.save({"epoch": 0}, path)
    with pytest.raises(genkit.ExportError, match="missing key 'state_dict'"):
        import_vqgan(path, config, tmp_path / "out")
    gumbel_config = tmp_path / "gumbel.yaml"
    gumbel_config.write_text(config.read_text().replace("VQModel", "GumbelVQ"))
    torch.save({"state_dict": ref.state_dict()}, path)
    with pytest.raises(genkit.ExportError, match="missing key state_dict.quantize.embed.weight"):
        import_vqgan(path, gumbel_config, tmp_path / "out")


@pytest.mark.parametrize("gumbel", [False, True], ids=["vqmodel", "gumbelvq"])
def test_reference_is_taming(gumbel):
    """The copied reference computes what the ``taming`` package computes (skipped when it is not installed)."""
    taming_model = pytest.importorskip("taming.modules.diffusionmodules.model")
    taming_quantize = pytest.importorskip("taming.modules.vqvae.quantize")
    ref = _reference(gumbel)
    encoder, decoder = taming_model.Encoder(**DDCONFIG), taming_model.Decoder(**DDCONFIG)
    if gumbel:
        quantize = taming_quantize.GumbelQuantize(8, 8, n_embed=N_EMBED)
    else:
        quantize = taming_quantize.VectorQuantizer2(N_EMBED, 8, beta=0.25)
    for name, module in (("encoder", encoder), ("decoder", decoder), ("quantize", quantize)):
        module.load_state_dict({k[len(name) + 1 :]: v for k, v in ref.state_dict().items() if k.startswith(name)})
        module.eval()
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        h = ref.quant_conv(encoder(images))
        codes = quantize.proj(h).argmax(1) if gumbel else quantize(h)[2][2].view(2, 8, 8)
        assert torch.equal(codes, ref.encode(images))
        z = ref.quantize.get_codebook_entry(codes, (2, 8, 8, 8))
        torch.testing.assert_close(decoder(ref.post_quant_conv(z)), ref.decode_code(codes), atol=1e-6, rtol=0)

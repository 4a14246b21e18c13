"""``genkit import openai-dvae``: OpenAI-layout modules pickled whole, imported without executing pickled code.

The classes below re-type OpenAI's released ``dall_e`` modules (layout and forward as in dall_e 0.1, without
attrs). :func:`install` puts ``dall_e``, ``dall_e.utils``, ``dall_e.encoder`` and ``dall_e.decoder`` into
``sys.modules`` so that ``torch.save`` pickles them exactly as OpenAI's checkpoints were pickled (whole modules,
classes referenced as ``dall_e.encoder.Encoder`` ...). ``SETSTATE_CALLS`` counts real unpicklings of them.
"""

import math
import os
import sys
import types
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import genkit
from genkit.cli import main
from genkit_dvae.import_command import import_openai_dvae

SETSTATE_CALLS = []
LOGIT_LAPLACE_EPS = 0.1
CPU = torch.device("cpu")  # dall_e's Conv2d default device


class _Tracked(nn.Module):
    def __setstate__(self, state):
        SETSTATE_CALLS.append(type(self).__name__)
        super().__setstate__(state)


class Conv2d(_Tracked):
    def __init__(self, n_in, n_out, kw, use_float16=True, device=CPU, requires_grad=False):
        super().__init__()
        self.n_in, self.n_out, self.kw = n_in, n_out, kw
        self.use_float16, self.device, self.requires_grad = use_float16, device, requires_grad
        w = torch.empty((n_out, n_in, kw, kw), dtype=torch.float32, requires_grad=requires_grad)
        w.normal_(std=1 / math.sqrt(n_in * kw**2))
        b = torch.randn((n_out,), dtype=torch.float32) * 0.1  # OpenAI zeroes b; non-zero tests the mapping
        self.w, self.b = nn.Parameter(w), nn.Parameter(b)

    def forward(self, x):
        return F.conv2d(x.float(), self.w, self.b, padding=(self.kw - 1) // 2)


def _block(n_in, n_out, n_layers, kernels):
    n_hid = n_out // 4
    widths = [n_in, n_hid, n_hid, n_hid, n_out]
    layers = []
    for i, kw in enumerate(kernels):
        layers += [(f"relu_{i + 1}", nn.ReLU()), (f"conv_{i + 1}", Conv2d(widths[i], widths[i + 1], kw))]
    return nn.Sequential(OrderedDict(layers))


class EncoderBlock(_Tracked):
    def __init__(self, n_in, n_out, n_layers, device=None, requires_grad=False):
        super().__init__()
        self.n_in, self.n_out, self.n_layers, self.device, self.requires_grad = (
            n_in,
            n_out,
            n_layers,
            device,
            requires_grad,
        )
        self.n_hid, self.post_gain = n_out // 4, 1 / (n_layers**2)
        self.id_path = Conv2d(n_in, n_out, 1) if n_in != n_out else nn.Identity()
        self.res_path = _block(n_in, n_out, n_layers, (3, 3, 3, 1))

    def forward(self, x):
        return self.id_path(x) + self.post_gain * self.res_path(x)


class DecoderBlock(EncoderBlock):
    def __init__(self, n_in, n_out, n_layers, device=None, requires_grad=False):
        super().__init__(n_in, n_out, n_layers, device, requires_grad)
        self.res_path = _block(n_in, n_out, n_layers, (1, 3, 3, 3))


class Encoder(_Tracked):
    group_count = 4

    def __init__(self, n_hid=256, n_blk_per_group=2, input_channels=3, vocab_size=8192):
        super().__init__()
        self.n_hid, self.n_blk_per_group, self.input_channels, self.vocab_size = (
            n_hid,
            n_blk_per_group,
            input_channels,
            vocab_size,
        )
        self.device, self.requires_grad, self.use_mixed_precision = torch.device("cpu"), False, True
        n_layers = self.group_count * n_blk_per_group
        widths = [n_hid, 2 * n_hid, 4 * n_hid, 8 * n_hid]
        groups, n_in = [("input", Conv2d(input_channels, n_hid, 7))], n_hid
        for g, width in enumerate(widths):
            layers = []
            for i in range(n_blk_per_group):
                layers.append((f"block_{i + 1}", EncoderBlock(n_in, width, n_layers)))
                n_in = width
            if g < 3:
                layers.append(("pool", nn.MaxPool2d(kernel_size=2)))
            groups.append((f"group_{g + 1}", nn.Sequential(OrderedDict(layers))))
        groups.append(
            (
                "output",
                nn.Sequential(
                    OrderedDict([("relu", nn.ReLU()), ("conv", Conv2d(n_in, vocab_size, 1, use_float16=False))])
                ),
            )
        )
        self.blocks = nn.Sequential(OrderedDict(groups))

    def forward(self, x):
        return self.blocks(x)


class Decoder(_Tracked):
    group_count = 4

    def __init__(self, n_init=128, n_hid=256, n_blk_per_group=2, output_channels=3, vocab_size=8192):
        super().__init__()
        self.n_init, self.n_hid, self.n_blk_per_group = n_init, n_hid, n_blk_per_group
        self.output_channels, self.vocab_size = output_channels, vocab_size
        self.device, self.requires_grad, self.use_mixed_precision = torch.device("cpu"), False, True
        n_layers = self.group_count * n_blk_per_group
        widths = [8 * n_hid, 4 * n_hid, 2 * n_hid, n_hid]
        groups, n_in = [("input", Conv2d(vocab_size, n_init, 1, use_float16=False))], n_init
        for g, width in enumerate(widths):
            layers = []
            for i in range(n_blk_per_group):
                layers.append((f"block_{i + 1}", DecoderBlock(n_in, width, n_layers)))
                n_in = width
            if g < 3:
                layers.append(("upsample", nn.Upsample(scale_factor=2, mode="nearest")))
            groups.append((f"group_{g + 1}", nn.Sequential(OrderedDict(layers))))
        groups.append(
            (
                "output",
                nn.Sequential(OrderedDict([("relu", nn.ReLU()), ("conv", Conv2d(n_in, 2 * output_channels, 1))])),
            )
        )
        self.blocks = nn.Sequential(OrderedDict(groups))

    def forward(self, x):
        return self.blocks(x)


def map_pixels(x):
    return (1 - 2 * LOGIT_LAPLACE_EPS) * x + LOGIT_LAPLACE_EPS


def unmap_pixels(x):
    return torch.clamp((x - LOGIT_LAPLACE_EPS) / (1 - 2 * LOGIT_LAPLACE_EPS), 0, 1)


def reference_encode(encoder, images):
    """OpenAI's usage notebook: ``argmax(enc(map_pixels(x)))``; returns (logits, codes)."""
    logits = encoder(map_pixels(images))
    return logits, torch.argmax(logits, dim=1)


def reference_decode(decoder, codes):
    z = F.one_hot(codes, num_classes=decoder.vocab_size).permute(0, 3, 1, 2).float()
    return unmap_pixels(torch.sigmoid(decoder(z).float()[:, :3]))


_MODULES = {
    "dall_e.utils": [Conv2d],
    "dall_e.encoder": [Encoder, EncoderBlock],
    "dall_e.decoder": [Decoder, DecoderBlock],
}


def install(monkeypatch):
    """Put the ``dall_e`` modules into ``sys.modules`` (undone by ``monkeypatch``) and name the classes there."""
    package = types.ModuleType("dall_e")
    package.__path__ = []
    monkeypatch.setitem(sys.modules, "dall_e", package)
    for name, classes in _MODULES.items():
        module = types.ModuleType(name)
        for cls in classes:
            monkeypatch.setattr(cls, "__module__", name)
            setattr(module, cls.__name__, cls)
        monkeypatch.setitem(sys.modules, name, module)
        setattr(package, name.split(".")[1], module)


SIZES = dict(n_hid=8, n_blk_per_group=2, vocab_size=32)


def _pickle_pair(tmp_path, monkeypatch, legacy=False):
    """Save an Encoder and a Decoder with OpenAI's layout the way OpenAI did; then hide the dall_e modules."""
    torch.manual_seed(0)
    install(monkeypatch)
    encoder, decoder = Encoder(**SIZES), Decoder(n_init=8, **SIZES)
    paths = tmp_path / "encoder.pkl", tmp_path / "decoder.pkl"
    for module, path in zip((encoder, decoder), paths, strict=True):
        torch.save(module, path, _use_new_zipfile_serialization=not legacy)
    for name in ("dall_e", "dall_e.utils", "dall_e.encoder", "dall_e.decoder"):
        monkeypatch.delitem(sys.modules, name)  # importing must not need (or load) the dall_e package
    SETSTATE_CALLS.clear()
    return encoder, decoder, paths


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_import_matches_reference_forward(tmp_path, monkeypatch, legacy):
    encoder, decoder, (enc_path, dec_path) = _pickle_pair(tmp_path, monkeypatch, legacy)
    out = tmp_path / "export"
    import_openai_dvae(enc_path, dec_path, out, image_size=32)
    assert SETSTATE_CALLS == [], "an original dall_e class was unpickled"
    assert "dall_e" not in sys.modules
    model = genkit.load_component(out, "autoencoder")
    assert (model.vocab_size, model.grid, model.image_size) == (32, (4, 4), 32)
    assert model.params.multipliers == (1, 2, 4, 8) and model.params.codebook_dim == 8
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref_logits, ref_codes = reference_encode(encoder, images)
        assert torch.allclose(model.logits(images), ref_logits, atol=1e-5)
        assert torch.equal(model.encode(images), ref_codes)
        codes = torch.randint(0, 32, (3, 4, 4), generator=torch.Generator().manual_seed(2))
        assert torch.allclose(model.decode(codes), reference_decode(decoder, codes), atol=1e-5)


def test_import_command_line(tmp_path, monkeypatch, capsys):
    _, _, (enc_path, dec_path) = _pickle_pair(tmp_path, monkeypatch)
    out = tmp_path / "cli_export"
    assert main(["import", "openai-dvae", str(enc_path), str(dec_path), "--out", str(out), "--image-size", "16"]) == 0
    assert "32 codes, grid 2x2" in capsys.readouterr().out
    assert (out / "autoencoder" / "model.safetensors").is_file() and (out / "model_index.json").is_file()
    assert not list(out.rglob("*.pkl"))
    assert main(["import", "openai-dvae", str(dec_path), str(enc_path), "--out", str(tmp_path / "swapped")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "expected a pickled dall_e.encoder.Encoder" in err


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refuses_unknown_globals_without_running_them(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    torch.save({"state": _Payload(marker)}, path)
    with pytest.raises(genkit.ExportError) as info:
        import_openai_dvae(path, path, tmp_path / "out")
    message = str(info.value)
    assert "\n" not in message and "refused to unpickle global" in message
    assert f"{os.system.__module__}.system" in message and str(path) in message
    assert not marker.exists()


def test_refuses_plain_tensors_and_missing_files(tmp_path):
    path = tmp_path / "weights.pkl"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(genkit.ExportError, match="expected a pickled dall_e module, found dict"):
        import_openai_dvae(path, path, tmp_path / "out")
    with pytest.raises(genkit.ExportError, match="no such file"):
        import_openai_dvae(tmp_path / "missing.pkl", path, tmp_path / "out")

"""The attention probe (genkit.attention.probe) names the kernel each layer runs; genkit.accelerators reads which
torch xformers' kernels were built for, and the gpu extra pins that pair (pyproject.toml == GPU_PAIR)."""

import re
from pathlib import Path

import pytest
import torch

import genkit
from genkit.accelerators import GPU_PAIR, library_lines, library_report, xformers_build
from genkit.attention import SDPAAttention
from genkit.attention.layout import AttentionLayout
from genkit.attention.probe import attention_kernels, layer_kernels

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_every_layer_of_a_prior_reports_its_backend_and_kernel():
    context = genkit.BuildContext(text_vocab_size=20, text_length=4, image_vocab_size=16, image_grid=(3, 3))
    values = {"width": 16, "depth": 4, "heads": 2, "conv_kernel": 3, "attention": ["full", "row", "column", "conv"]}
    prior = genkit.build_component("prior", genkit.make_params("prior", "sparse_transformer", values), context)
    rows = layer_kernels(prior, "cpu", torch.float32)
    assert [(r["layer"], r["type"], r["backend"]) for r in rows] == [
        (0, "full", "sdpa"),
        (1, "row", "sdpa"),
        (2, "column", "sdpa"),
        (3, "conv", "sdpa"),
    ]
    for row in rows:  # torch 2.13 on the CPU: its flash kernel, also with a mask, forward and backward
        assert any(name.startswith("aten::_scaled_dot_product") for name in row["kernels"]), row


def test_a_backend_without_an_attention_operator_reports_none():
    layout = AttentionLayout(2, (2, 2), "full")
    assert attention_kernels(lambda q, k, v: q + k + v, layout, "cpu", torch.float32) == []
    assert attention_kernels(SDPAAttention(layout), layout, "cpu", torch.float32)


def test_the_gpu_extra_pins_the_pair_of_gpu_pair():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    pins = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", pin).groups() for pin in extras["gpu"] if "==" in pin)
    assert pins == GPU_PAIR


def test_library_report_names_the_torch_xformers_was_built_for():
    report = library_report()
    assert report["torch"] == torch.__version__
    if report["xformers"] is None:
        assert report["xformers_kernels"] == "not installed"
    else:
        build = xformers_build()
        assert build is not None and report["xformers_built_for_torch"] == build["version"]["torch"]
        fits = report["xformers_built_for_torch"].split("+")[0] == torch.__version__.split("+")[0]
        assert report["xformers_kernels"].startswith(("load", "built for this torch") if fits else "do not load")
    assert "torch==2.10.0 with xformers==0.0.35" in "\n".join(library_lines())

"""A toy plugin (dataset, two autoencoders, a prior) and a factory for isolated plugin sets."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
import torch
from pydantic import Field

import genkit
from genkit.plugins.manager import Plugins


class ToySetParams(genkit.Params):
    size: int = Field(16, ge=4, description="Image side.")
    count: int = Field(8, ge=1, description="Items.")


class ToyAEParams(genkit.Params):
    hidden: int = Field(8, ge=1, description="Hidden width.")
    codebook_size: int = Field(16, ge=2, description="Codes.")
    downsample: int = Field(4, ge=1, description="Downsampling factor.")


class ToyVQParams(genkit.Params):
    codebook_size: int = Field(32, ge=2, description="Codes.")
    beta: float = Field(0.25, ge=0, description="Commitment weight.")


class ToyPriorParams(genkit.Params):
    depth: int = Field(2, ge=1, description="Layers.")
    width: int = Field(16, ge=1, description="Width.")
    attention: list[Literal["row", "column", "conv", "full"]] = Field(
        default_factory=lambda: ["row", "column"], description="Layer types."
    )
    dropout: float = Field(0.0, ge=0, le=1, description="Dropout.")
    tie_embeddings: bool = Field(False, description="Tie embeddings.")


class ToyAutoencoder(torch.nn.Module):
    """A real (tiny) module with a buffer and a files side-car, to exercise the export format."""

    def __init__(self, params: ToyAEParams, context: genkit.BuildContext):
        super().__init__()
        size = context.require("image_size")
        self.image_size = size
        self.vocab_size = params.codebook_size
        self.grid = (size // params.downsample, size // params.downsample)
        self.proj = torch.nn.Conv2d(3, params.hidden, params.downsample, params.downsample)
        self.codebook = torch.nn.Parameter(torch.randn(params.codebook_size, params.hidden))
        self.register_buffer("usage", torch.zeros(params.codebook_size))
        self.note = "fresh"

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        features = self.proj(images).permute(0, 2, 3, 1)
        return torch.cdist(features.flatten(1, 2), self.codebook[None]).argmin(-1).view(images.shape[0], *self.grid)

    def save_files(self, directory: Path) -> None:
        (directory / "note.txt").write_text(self.note)

    def load_files(self, directory: Path) -> None:
        self.note = (directory / "note.txt").read_text()


class ToyPlugin:
    """Registers the toy components under kinds no real plugin uses."""

    @genkit.hookimpl
    def genkit_register_components(self, register):
        register("dataset", "toyset", params=ToySetParams, build=lambda p, c: ("toyset", p))
        register("autoencoder", "toy_ae", params=ToyAEParams, build=lambda p, c: ToyAutoencoder(p, c))
        register("autoencoder", "toy_vq", params=ToyVQParams, build=lambda p, c: ("toy_vq", p))
        register("prior", "toy_prior", params=ToyPriorParams, build=lambda p, c: ("toy_prior", p))


@pytest.fixture(scope="module")
def make_plugins():
    """``make_plugins(*plugin_objects, env=...)``: a plugin set with only the built-ins and the given plugins."""

    def factory(*objects, env=None):
        plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": "", **(env or {})}).load()
        for index, obj in enumerate(objects):
            plugins.register_plugin(obj, f"test_plugin_{index}")
        return plugins

    return factory


@pytest.fixture(scope="module")
def toy_plugins(make_plugins):
    """Read-only: tests must not register more plugins into it."""
    return make_plugins(ToyPlugin())


@pytest.fixture
def use_plugins(monkeypatch):
    """Make a plugin set the process's plugins for the duration of a test (for CLI tests)."""
    from genkit import plugins as plugins_module

    def install(plugins):
        monkeypatch.setattr(plugins_module.manager, "_loaded", plugins)
        return plugins

    return install


TOY_RECIPE = {
    "data": {"kind": "toyset", "size": 16},
    "autoencoder": {"kind": "toy_ae", "hidden": 8},
    "prior": {"kind": "toy_prior", "depth": 2},
    "stages": {"prior": {"steps": 10, "lr": 1e-3}},
}

"""The toy components that the core, train, precision and reliability tests share: one per role.

:class:`ToyPlugin` registers them under kinds that no real plugin uses:

- dataset ``toyset``: params only (building it gives a tag); recipes validate against it.
- tokenizer ``toy_tok``: characters -> ids; ``train`` records the corpus's alphabet in a files side-car.
- autoencoder ``toy_ae``: a real tiny module (encode, decode, train), with a buffer and a files side-car.
- autoencoder ``toy_vq``: params only, a second autoencoder kind to swap to (other fields and defaults).
- prior ``toy_prior``: a real tiny module, caption -> image tokens, ``depth`` blocks of ``width``.
- reranker ``toy_reranker``: a real tiny module, in-batch InfoNCE, scores and retrieval metrics.

``toy_prior``'s ``attention``, ``dropout`` and ``tie_embeddings`` are recipe fields only (the module ignores
them); the recipe and CLI tests type and override them. :class:`ToyMLP` is a bare regression model for the
trainer's tests (not registered). Every trainable module declares residual branches and shard units like the real
ones. :func:`isolated_plugins` makes a plugin set with only the built-ins and the given plugins.

Tests import this as ``toys`` (tests/conftest.py puts tests/ on the path: the suite uses importlib import mode).
Tests that need a broken or special component (a build that raises, params with step counts) define it locally.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

import genkit
from genkit.plugins.manager import Plugins

ROLES = ("dataset", "tokenizer", "autoencoder", "prior", "reranker")

#: A valid recipe of the toys (no tokenizer, no reranker), for the recipe tests; copy it before changing it.
TOY_RECIPE = {
    "data": {"kind": "toyset", "size": 16},
    "autoencoder": {"kind": "toy_ae", "hidden": 8},
    "prior": {"kind": "toy_prior", "depth": 2},
    "stages": {"prior": {"steps": 10, "lr": 1e-3}},
}


def toy_recipe() -> dict:
    """A fresh copy of :data:`TOY_RECIPE`."""
    return copy.deepcopy(TOY_RECIPE)


# -- building blocks --------------------------------------------------------------------------------------------


class Branch(nn.Module):
    """A residual branch: pre-LayerNorm MLP; the caller adds its output to the stream."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, 2 * width)
        self.fc2 = nn.Linear(2 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


class Block(nn.Module):
    """A shard unit holding two residual branches."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.a, self.b = Branch(width), Branch(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.a(x)
        return x + self.b(x)


class ToyMLP(nn.Module):
    """A regression toy for the trainer: ``(batch, 4) -> (batch,)``; ``depth`` blocks of two branches."""

    def __init__(self, width: int = 8, depth: int = 2) -> None:
        super().__init__()
        self.inp = nn.Linear(4, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(depth))
        self.out = nn.Linear(width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = block(h)
        return self.out(h).squeeze(-1)

    def residual_blocks(self) -> list[nn.Module]:
        return [m for block in self.blocks for m in (block.a, block.b)]

    def shard_units(self) -> list[nn.Module]:
        return list(self.blocks)


# -- params -----------------------------------------------------------------------------------------------------


class ToySetParams(genkit.Params):
    size: int = Field(16, ge=4, description="Image side.")
    count: int = Field(8, ge=1, description="Items.")


class ToyTokParams(genkit.Params):
    vocab_size: int = Field(64, ge=8, description="Vocabulary size.")
    max_length: int = Field(12, ge=1, description="Tokens per caption.")


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


class ToyRerankerParams(genkit.Params):
    width: int = Field(16, ge=2, description="Width.")


# -- components -------------------------------------------------------------------------------------------------


class ToyTokenizer:
    """Characters -> ids (byte value modulo the vocabulary, +1); ``train`` records the corpus's alphabet."""

    def __init__(self, params: ToyTokParams, context: genkit.BuildContext) -> None:
        self.vocab_size, self.max_length = params.vocab_size, params.max_length
        self.alphabet: str = ""
        self.truncated = 0

    def normalize(self, text: str) -> str:
        return " ".join(text.lower().split())

    def train(self, corpus) -> None:
        self.alphabet = "".join(sorted({c for text in corpus for c in self.normalize(text)}))

    def encode(self, texts: Sequence[str], *, dropout: bool = False, seed: int | None = None) -> genkit.TokenBatch:
        ids = torch.zeros(len(texts), self.max_length, dtype=torch.long)
        lengths = torch.zeros(len(texts), dtype=torch.long)
        for b, text in enumerate(texts):
            codes = [1 + ord(c) % (self.vocab_size - 1) for c in self.normalize(text)]
            self.truncated += len(codes) > self.max_length
            codes = codes[: self.max_length]
            ids[b, : len(codes)] = torch.tensor(codes, dtype=torch.long)
            lengths[b] = len(codes)
        return genkit.TokenBatch(ids, lengths)

    def decode(self, ids, lengths=None):
        return ["?" for _ in range(ids.shape[0])]

    def save_files(self, directory: Path) -> None:
        (Path(directory) / "alphabet.json").write_text(json.dumps(self.alphabet))

    def load_files(self, directory: Path) -> None:
        self.alphabet = json.loads((Path(directory) / "alphabet.json").read_text())


class ToyAutoencoder(nn.Module):
    """Patches -> features -> the best-matching code of a learned codebook; decoding transposes the patching.

    A buffer (``usage``) and a files side-car (``note``) exercise the export format; training relaxes the code
    choice to a softmax over the codebook."""

    def __init__(self, params: ToyAEParams, context: genkit.BuildContext) -> None:
        super().__init__()
        size = context.require("image_size")
        down, width = params.downsample, params.hidden
        self.image_size = size
        self.vocab_size = params.codebook_size
        self.grid = (size // down, size // down)
        self.proj = nn.Conv2d(3, width, down, down)
        self.mid = Block(width)
        self.codebook = nn.Parameter(torch.randn(params.codebook_size, width))
        self.dec = nn.ConvTranspose2d(width, 3, down, down)
        self.register_buffer("usage", torch.zeros(params.codebook_size))
        self.note = "fresh"

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        features = self.mid(self.proj(images * 2 - 1).permute(0, 2, 3, 1))
        return features @ self.codebook.T * self.codebook.shape[1] ** -0.5

    def _decode_soft(self, probs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.dec((probs @ self.codebook).permute(0, 3, 1, 2)))

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self._logits(images).argmax(-1)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self._decode_soft(F.one_hot(codes, self.vocab_size).float())

    def training_loss(self, images: torch.Tensor, step: int):
        recon = self._decode_soft(F.softmax(self._logits(images), -1))
        loss = F.mse_loss(recon.float(), images)
        return loss, {"mse": float(loss.detach())}

    def validation_metrics(self, images: torch.Tensor) -> dict[str, float]:
        return {"recon_mse": float(F.mse_loss(self.decode(self.encode(images)), images))}

    def residual_blocks(self) -> list[nn.Module]:
        return [self.mid.a, self.mid.b]

    def shard_units(self) -> list[nn.Module]:
        return [self.mid]

    def save_files(self, directory: Path) -> None:
        (Path(directory) / "note.txt").write_text(self.note)

    def load_files(self, directory: Path) -> None:
        self.note = (Path(directory) / "note.txt").read_text()


class ToyPrior(nn.Module):
    """Mean caption embedding, then the image tokens shifted by one, through ``depth`` blocks; ``sample`` draws
    zeros (the tests that sample use the real plugins)."""

    def __init__(self, params: ToyPriorParams, context: genkit.BuildContext) -> None:
        super().__init__()
        width = params.width
        self.text_length = context.require("text_length")
        self.grid = context.require("image_grid")
        self.image_vocab = context.require("image_vocab_size")
        self.text_embed = nn.Embedding(context.require("text_vocab_size"), width)
        self.image_embed = nn.Embedding(self.image_vocab, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(params.depth))
        self.head = nn.Linear(width, self.image_vocab)

    def loss(self, text_ids, text_lengths, image_ids):
        context = self.text_embed(text_ids).mean(1, keepdim=True)
        tokens = image_ids.flatten(1)
        h = torch.cat([context, self.image_embed(tokens[:, :-1])], 1)
        for block in self.blocks:
            h = block(h)
        logits = self.head(h)
        loss = F.cross_entropy(logits.float().reshape(-1, self.image_vocab), tokens.reshape(-1))
        return loss, {"image_loss": float(loss.detach()), "text_loss": 0.0}

    def sample(self, text_ids, text_lengths, **kwargs):
        return torch.zeros(text_ids.shape[0], *self.grid, dtype=torch.long)

    def residual_blocks(self):
        return [m for block in self.blocks for m in (block.a, block.b)]

    def shard_units(self):
        return list(self.blocks)


class ToyReranker(nn.Module):
    """Mean token embedding vs mean patch feature, cosine-scored; trained with in-batch InfoNCE."""

    def __init__(self, params: ToyRerankerParams, context: genkit.BuildContext) -> None:
        super().__init__()
        width = params.width
        self.text = nn.Embedding(context.require("text_vocab_size"), width)
        self.image = nn.Conv2d(3, width, 4, 4)
        self.block = Block(width)

    def _pair(self, text_ids, images):
        t = F.normalize(self.block(self.text(text_ids).mean(1)), dim=-1)
        i = F.normalize(self.image(images).mean((2, 3)), dim=-1)
        return t, i

    def score(self, text_ids, text_lengths, images):
        t, i = self._pair(text_ids, images)
        return (t * i).sum(-1)

    def training_loss(self, text_ids, text_lengths, images):
        t, i = self._pair(text_ids, images)
        logits = 10 * t @ i.T
        target = torch.arange(len(t))
        loss = (F.cross_entropy(logits.float(), target) + F.cross_entropy(logits.T.float(), target)) / 2
        return loss, {"infonce": float(loss.detach())}

    @torch.no_grad()
    def validation_metrics(self, text_ids, text_lengths, images):
        t, i = self._pair(text_ids, images)
        sims = t @ i.T
        target = torch.arange(len(t))
        return {
            "top1_text_to_image": float((sims.argmax(1) == target).float().mean()),
            "top1_image_to_text": float((sims.argmax(0) == target).float().mean()),
        }

    def residual_blocks(self):
        return [self.block.a, self.block.b]

    def shard_units(self):
        return [self.block]


# (role, kind, params, build, description)
TOYS = [
    ("dataset", "toyset", ToySetParams, lambda p, c: ("toyset", p), "toy dataset (params only)"),
    ("tokenizer", "toy_tok", ToyTokParams, ToyTokenizer, "toy tokenizer"),
    ("autoencoder", "toy_ae", ToyAEParams, ToyAutoencoder, "toy autoencoder"),
    ("autoencoder", "toy_vq", ToyVQParams, lambda p, c: ("toy_vq", p), "second toy autoencoder (params only)"),
    ("prior", "toy_prior", ToyPriorParams, ToyPrior, "toy prior"),
    ("reranker", "toy_reranker", ToyRerankerParams, ToyReranker, "toy reranker"),
]


class ToyPlugin:
    """Registers the toys of ``roles`` (every role by default)."""

    def __init__(self, roles: Sequence[str] = ROLES) -> None:
        unknown = set(roles) - set(ROLES)
        assert not unknown, unknown
        self.roles = tuple(roles)

    @genkit.hookimpl
    def genkit_register_components(self, register) -> None:
        for role, kind, params, build, description in TOYS:
            if role in self.roles:
                register(role, kind, params=params, build=build, description=description)


def isolated_plugins(*objects, env: dict[str, str] | None = None) -> Plugins:
    """The built-in plugins plus ``objects`` (registered as ``test_plugin_0``, ``test_plugin_1``, ...), and no
    entry-point plugin whatever is installed."""
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": "", **(env or {})}).load()
    for index, obj in enumerate(objects):
        plugins.register_plugin(obj, f"test_plugin_{index}")
    return plugins

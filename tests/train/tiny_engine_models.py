"""Tiny components for the engine's tests: an autoencoder, a tokenizer, a prior and a reranker.

Registered as kind ``tiny`` through :func:`tiny_plugins` (an isolated plugin set), so the pipeline can run end
to end without the real plugins. Each model declares residual branches and shard units like the real ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

import genkit
from genkit.plugins.manager import Plugins


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


class TinyMLP(nn.Module):
    """A regression toy: ``loss(x, y)``; two blocks of two branches."""

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


class TinyParams(genkit.Params):
    width: int = Field(16, ge=2, description="Channels / width.")
    codes: int = Field(16, ge=2, description="Codebook size (autoencoder).")


class TinyTokParams(genkit.Params):
    vocab_size: int = Field(64, ge=8, description="Vocabulary size.")
    max_length: int = Field(12, ge=1, description="Tokens per caption.")


class TinyAutoencoder(nn.Module):
    def __init__(self, params: TinyParams, context: genkit.BuildContext) -> None:
        super().__init__()
        self.image_size = context.require("image_size")
        self.vocab_size, self.grid = params.codes, (self.image_size // 4, self.image_size // 4)
        w = params.width
        self.enc = nn.Conv2d(3, w, 4, 4)
        self.mid = Block(w)
        self.logits = nn.Linear(w, params.codes)
        self.embed = nn.Embedding(params.codes, w)
        self.dec = nn.ConvTranspose2d(w, 3, 4, 4)

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        h = self.enc(images * 2 - 1).permute(0, 2, 3, 1)
        return self.logits(self.mid(h))

    def _decode_soft(self, probs: torch.Tensor) -> torch.Tensor:
        h = probs @ self.embed.weight
        return torch.sigmoid(self.dec(h.permute(0, 3, 1, 2)))

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self._logits(images).argmax(-1)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self._decode_soft(F.one_hot(codes, self.vocab_size).float())

    def training_loss(self, images: torch.Tensor, step: int):
        probs = F.softmax(self._logits(images), -1)
        recon = self._decode_soft(probs)
        loss = F.mse_loss(recon.float(), images)
        return loss, {"mse": float(loss.detach())}

    def validation_metrics(self, images: torch.Tensor) -> dict[str, float]:
        mse = float(F.mse_loss(self.decode(self.encode(images)), images))
        return {"recon_mse": mse}

    def residual_blocks(self) -> list[nn.Module]:
        return [self.mid.a, self.mid.b]

    def shard_units(self) -> list[nn.Module]:
        return [self.mid]


class TinyTokenizer:
    """Characters -> ids (byte value modulo the vocabulary, +1); ``train`` records the corpus's alphabet."""

    def __init__(self, params: TinyTokParams, context: genkit.BuildContext) -> None:
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


class TinyPrior(nn.Module):
    def __init__(self, params: TinyParams, context: genkit.BuildContext) -> None:
        super().__init__()
        w = params.width
        self.text_length = context.require("text_length")
        self.grid = context.require("image_grid")
        self.image_vocab = context.require("image_vocab_size")
        self.text_embed = nn.Embedding(context.require("text_vocab_size"), w)
        self.image_embed = nn.Embedding(self.image_vocab, w)
        self.block = Block(w)
        self.head = nn.Linear(w, self.image_vocab)

    def loss(self, text_ids, text_lengths, image_ids):
        context = self.text_embed(text_ids).mean(1, keepdim=True)
        tokens = image_ids.flatten(1)
        inputs = torch.cat([context, self.image_embed(tokens[:, :-1])], 1)
        logits = self.head(self.block(inputs))
        loss = F.cross_entropy(logits.float().reshape(-1, self.image_vocab), tokens.reshape(-1))
        return loss, {"image_loss": float(loss.detach()), "text_loss": 0.0}

    def sample(self, text_ids, text_lengths, **kwargs):
        return torch.zeros(text_ids.shape[0], *self.grid, dtype=torch.long)

    def residual_blocks(self):
        return [self.block.a, self.block.b]

    def shard_units(self):
        return [self.block]


class TinyReranker(nn.Module):
    def __init__(self, params: TinyParams, context: genkit.BuildContext) -> None:
        super().__init__()
        w = params.width
        self.text = nn.Embedding(context.require("text_vocab_size"), w)
        self.image = nn.Conv2d(3, w, 4, 4)
        self.block = Block(w)

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


class _TinyPlugin:
    @genkit.hookimpl
    def genkit_register_components(self, register) -> None:
        register("autoencoder", "tiny", params=TinyParams, build=TinyAutoencoder, description="test autoencoder")
        register("tokenizer", "tiny", params=TinyTokParams, build=TinyTokenizer, description="test tokenizer")
        register("prior", "tiny", params=TinyParams, build=TinyPrior, description="test prior")
        register("reranker", "tiny", params=TinyParams, build=TinyReranker, description="test reranker")


def tiny_plugins() -> Plugins:
    """Built-in plugins plus the tiny components only (no entry-point plugins)."""
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": ""}).load()
    plugins.register_plugin(_TinyPlugin(), "tiny_engine", distribution="tests", version="0")
    return plugins

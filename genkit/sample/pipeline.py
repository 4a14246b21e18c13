"""Text -> tokens -> prior (KV cache) -> autoencoder decode -> reranker -> best candidates.

``Pipeline.from_run("runs/demo").sample(["a red circle"], candidates=32, keep=4, seed=0)`` is the Python API
behind ``genkit sample``; ``Pipeline.score(texts, images)`` scores plain (caption, image) pairs with the reranker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from genkit.errors import InputError
from genkit.export import INDEX, load_component
from genkit.plugins import Plugins, get_plugins
from genkit.roles.tokenizer import TokenBatch

NO_RERANKER = "score: this run has no reranker (its export has none); run the recipe's reranker stage first"


@dataclass
class PromptSamples:
    """The kept candidates of one prompt, best first.

    ``images``: ``float[keep, 3, H, W]`` in [0, 1]; ``codes``: ``Long[keep, h, w]``; ``scores``: reranker
    scores (``None`` without a reranker); ``indices``: which of the drawn candidates each one was (0 = first
    drawn, what you would get without reranking).
    """

    prompt: str
    images: torch.Tensor
    codes: torch.Tensor
    scores: list[float] | None
    indices: list[int]
    candidates: int
    first_image: torch.Tensor = field(repr=False, default=None)  # the first drawn candidate (no reranking)


@dataclass
class Pipeline:
    """The components of a finished run, ready to sample. ``reranker`` is optional.

    - ``sample(prompts, candidates=..., keep=..., ...)`` -> one :class:`PromptSamples` per prompt (best first).
    - ``score(texts, images)`` -> ``float[N]``: the reranker's score of each (caption ``n``, image ``n``) pair,
      higher = better match; ``images`` are ``float[N, 3, S, S]`` in [0, 1] with ``S = autoencoder.image_size``.
      The same tokenization and scoring as ``sample``'s reranking, so ``sample``'s kept ``scores`` equal
      ``score([prompt] * keep, kept.images)`` (up to float rounding). Batched internally; a one-line
      ``genkit.InputError`` when the run has no reranker or on bad input.
    - ``tokenize(texts)`` / ``score_tokens(text_ids, text_lengths, images)``: the two steps of ``score``.
    """

    tokenizer: Any
    autoencoder: Any
    prior: Any
    reranker: Any = None

    @classmethod
    def from_export(cls, export_dir: str | Path, plugins: Plugins | None = None, device: str = "cpu") -> "Pipeline":
        export_dir = Path(export_dir)
        if not (export_dir / INDEX).exists():
            raise InputError(f"{export_dir}: not a genkit export (no {INDEX}); run the recipe's stages first")
        plugins = plugins or get_plugins()
        roles = set(json.loads((export_dir / INDEX).read_text()))
        missing = {"tokenizer", "autoencoder", "prior"} - roles
        if missing:
            raise InputError(f"{export_dir}: the export has no {', '.join(sorted(missing))} yet (finished: {', '.join(sorted(roles))})")
        load = lambda role: load_component(export_dir, role, plugins, device)  # noqa: E731
        return cls(load("tokenizer"), load("autoencoder"), load("prior"), load("reranker") if "reranker" in roles else None)

    @classmethod
    def from_run(cls, run_dir: str | Path, plugins: Plugins | None = None, device: str = "cpu") -> "Pipeline":
        """Load the exports of ``genkit run``'s run directory (``RUN_DIR/export``)."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise InputError(f"{run_dir}: no such run directory")
        return cls.from_export(run_dir / "export", plugins, device)

    # -- steps ----------------------------------------------------------------------------------------
    def prime_codes(self, image: torch.Tensor, rows: int) -> torch.Tensor:
        """The top ``rows`` token rows of ``image`` (``float[3, H, W]`` in [0, 1]): ``Long[1, rows, w]``."""
        h, _ = self.autoencoder.grid
        if not 0 < rows < h:
            raise InputError(f"--rows {rows}: must be between 1 and {h - 1} (the token grid has {h} rows)")
        with torch.no_grad():
            codes = self.autoencoder.encode(image[None].float())
        return codes[:, :rows]

    @torch.no_grad()
    def sample(
        self,
        prompts: Sequence[str],
        *,
        candidates: int = 32,
        keep: int = 4,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        guidance: float = 0.0,
        seed: int = 0,
        prime_image: torch.Tensor | None = None,
        prime_rows: int | None = None,
        max_rows: int = 256,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[PromptSamples]:
        """Draw ``candidates`` per prompt, decode, rerank, and keep the ``keep`` best (best first).

        Reproducible: the same prompts, options and ``seed`` give the same pixels. Prompts are drawn in chunks of
        at most ``max_rows`` sequences. ``progress(done, total)`` is called after each decode step.
        """
        if not prompts:
            raise InputError("no prompts given")
        if keep > candidates:
            raise InputError(f"--keep {keep} is more than --candidates {candidates}")
        prime = None
        if prime_image is not None:
            prime = self.prime_codes(prime_image, prime_rows or self.autoencoder.grid[0] // 2)
        generator = torch.Generator().manual_seed(seed)
        per_call = max(1, max_rows // candidates)
        chunks = [list(prompts[i : i + per_call]) for i in range(0, len(prompts), per_call)]
        steps_per_chunk = self.autoencoder.grid[0] * self.autoencoder.grid[1] - (0 if prime is None else prime.numel())
        results: list[PromptSamples] = []
        for index, chunk in enumerate(chunks):
            text = self.tokenize(chunk)
            options = dict(candidates=candidates, temperature=temperature, top_k=top_k, top_p=top_p,
                           guidance=guidance, generator=generator)
            if prime is not None:
                options["prime_ids"] = prime.expand(len(chunk), -1, -1)
            if progress is not None:
                offset = index * steps_per_chunk
                total = steps_per_chunk * len(chunks)
                options["progress"] = lambda done, _total, offset=offset, total=total: progress(offset + done, total)
            codes = self.prior.sample(text.ids, text.lengths, **options)
            images = torch.cat([self.autoencoder.decode(part) for part in codes.split(64)])
            scores = None
            if self.reranker is not None:
                scores = self.score_tokens(text.ids.repeat_interleave(candidates, 0),
                                           text.lengths.repeat_interleave(candidates, 0), images)
            for row, prompt in enumerate(chunk):
                block = slice(row * candidates, (row + 1) * candidates)
                if scores is None:
                    order = list(range(keep))
                    kept_scores = None
                else:
                    ranked = torch.argsort(scores[block], descending=True, stable=True)[:keep]
                    order = ranked.tolist()
                    kept_scores = [float(scores[block][i]) for i in order]
                results.append(PromptSamples(
                    prompt=prompt, images=images[block][order], codes=codes[block][order], scores=kept_scores,
                    indices=order, candidates=candidates, first_image=images[block][0],
                ))
        return results

    # -- reranking ------------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> TokenBatch:
        """Captions -> ``TokenBatch`` (``ids Long[N, T]``, ``lengths Long[N]``) with the run's tokenizer, as the
        prior and the reranker see them. Repeated captions are encoded once."""
        texts = list(texts)
        unique = list(dict.fromkeys(texts))
        encoded = self.tokenizer.encode(unique)
        if len(unique) == len(texts):
            return encoded
        where = {text: i for i, text in enumerate(unique)}
        index = torch.tensor([where[text] for text in texts], dtype=torch.long)
        return TokenBatch(encoded.ids[index], encoded.lengths[index])

    @torch.no_grad()
    def score(self, texts: Sequence[str], images: torch.Tensor, *, batch_size: int = 128) -> torch.Tensor:
        """The reranker's score of each (``texts[n]``, ``images[n]``) pair: ``float[N]`` on the CPU, higher = better.

        ``images``: ``float[N, 3, S, S]`` in [0, 1], ``S`` = the autoencoder's image size (what ``sample`` returns).
        Scored in batches of ``batch_size`` pairs. A one-line ``genkit.InputError`` when the run has no reranker,
        when ``len(texts) != N``, or when ``images`` have the wrong type, shape or range.
        """
        if self.reranker is None:
            raise InputError(NO_RERANKER)
        if isinstance(texts, str):
            raise InputError("score: texts must be a list of strings (one caption per image), not one string")
        texts = list(texts)
        if not all(isinstance(text, str) for text in texts):
            raise InputError("score: texts must be a list of strings, one caption per image")
        self._check_images(images)
        if len(texts) != images.shape[0]:
            raise InputError(f"score: {len(texts)} texts but {images.shape[0]} images (one caption per image)")
        if not texts:
            return torch.empty(0)
        text = self.tokenize(texts)
        return self.score_tokens(text.ids, text.lengths, images, batch_size=batch_size)

    @torch.no_grad()
    def score_tokens(self, text_ids: torch.Tensor, text_lengths: torch.Tensor, images: torch.Tensor, *,
                     batch_size: int = 128) -> torch.Tensor:
        """Like :meth:`score` for tokenized captions (``tokenize``): ``reranker.score`` in batches of ``batch_size``
        pairs, on the reranker's device; ``float[N]`` on the CPU."""
        if self.reranker is None:
            raise InputError(NO_RERANKER)
        if batch_size < 1:
            raise InputError(f"score: batch_size must be at least 1, got {batch_size}")
        parameter = next(iter(self.reranker.parameters()), None) if hasattr(self.reranker, "parameters") else None
        device = images.device if parameter is None else parameter.device
        parts = [
            self.reranker.score(ids.to(device), lengths.to(device), imgs.to(device)).float().cpu()
            for ids, lengths, imgs in zip(text_ids.split(batch_size), text_lengths.split(batch_size),
                                          images.split(batch_size))
        ]
        return torch.cat(parts) if parts else torch.empty(0)

    def _check_images(self, images: torch.Tensor) -> None:
        size = self.autoencoder.image_size
        expected = f"float [N, 3, {size}, {size}] in [0, 1]"
        if not isinstance(images, torch.Tensor):
            raise InputError(f"score: images must be a torch.Tensor ({expected}), got {type(images).__name__}")
        if not images.is_floating_point() or images.dim() != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise InputError(f"score: images must be {expected}, got {images.dtype} {list(images.shape)}")
        if images.numel() and not bool(torch.isfinite(images).all()):
            raise InputError(f"score: images must be {expected}, got NaN or infinite values")
        if images.numel() and (float(images.min()) < 0 or float(images.max()) > 1):
            raise InputError(f"score: images must be {expected}, got values in "
                             f"[{float(images.min()):.3g}, {float(images.max()):.3g}]")

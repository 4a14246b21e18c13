"""Text -> tokens -> prior (KV cache) -> autoencoder decode -> reranker -> best candidates.

``Pipeline.from_run("runs/demo").sample(["a red circle"], candidates=32, keep=4, seed=0)`` is the Python API
behind ``genkit sample``.
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
    """The components of a finished run, ready to sample. ``reranker`` is optional."""

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
            text = self.tokenizer.encode(chunk)
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
            scores = self.score(text.ids.repeat_interleave(candidates, 0), text.lengths.repeat_interleave(candidates, 0), images)
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

    def score(self, text_ids: torch.Tensor, text_lengths: torch.Tensor, images: torch.Tensor) -> torch.Tensor | None:
        if self.reranker is None:
            return None
        parts = [
            self.reranker.score(ids, lengths, imgs)
            for ids, lengths, imgs in zip(text_ids.split(128), text_lengths.split(128), images.split(128))
        ]
        return torch.cat(parts).float()

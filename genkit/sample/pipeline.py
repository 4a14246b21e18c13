"""Text -> tokens -> prior (KV cache) -> autoencoder decode -> reranker -> best candidates.

``Pipeline.from_run("runs/demo").sample(["a red circle"], candidates=32, keep=4, seed=0)`` is the Python API
behind ``genkit sample``; ``Pipeline.score(texts, images)`` scores plain (caption, image) pairs with the reranker.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genkit.compile import compile_model, is_compile_failure, uncompile, warn_fallback
from genkit.errors import InputError
from genkit.export import INDEX, load_component, read_json
from genkit.plugins.manager import Plugins, get_plugins
from genkit.roles.autoencoder import Autoencoder
from genkit.roles.prior import Prior
from genkit.roles.reranker import Reranker
from genkit.roles.tokenizer import TokenBatch, Tokenizer

NO_RERANKER = "score: this run has no reranker (its export has none); run the recipe's reranker stage first"
MAX_PROMPT_CHARS = 1000  # a caption, not a document: the tokenizer keeps a few dozen tokens of it
MAX_CANDIDATES = 65536  # per prompt; the paper drew 512
MAX_SEED = 2**64 - 1  # what torch.Generator.manual_seed takes

#: How an argument is named in messages: ``name(argument, value)``. The Python API says ``keep=0``; the command
#: line passes its own (``--keep 0``).
Namer = Callable[[str, Any], str]


def api_name(argument: str, value: Any) -> str:
    return f"{argument}={value!r}"


def api_prompt_label(index: int) -> str:
    return f"prompts[{index}]"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_prompts(prompts: Any, label: Callable[[int], str] = api_prompt_label) -> list[str]:
    """``prompts`` as a list, or a one-line :class:`InputError` naming the first bad one (``label(index)``): not a
    list of strings, empty or whitespace only, or longer than :data:`MAX_PROMPT_CHARS` characters."""
    if isinstance(prompts, (str, bytes)):
        raise InputError(f"prompts must be a list of strings (one caption per row), not one string: {prompts!r:.60}")
    try:
        checked: list[Any] = list(prompts)
    except TypeError:
        raise InputError(f"prompts must be a list of strings, got {type(prompts).__name__}") from None
    if not checked:
        raise InputError("prompts: no prompts given")
    for index, prompt in enumerate(checked):
        if not isinstance(prompt, str):
            raise InputError(f"{label(index)}: a prompt must be a string, got {type(prompt).__name__}")
        if not prompt.strip():
            raise InputError(f"{label(index)}: empty prompt (give a caption to draw)")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InputError(
                f"{label(index)}: {len(prompt)} characters, more than the {MAX_PROMPT_CHARS} a prompt "
                f"may have (the tokenizer keeps only its first few dozen tokens)"
            )
    return checked


def check_sample_options(
    *,
    candidates: Any,
    keep: Any,
    temperature: Any,
    top_k: Any = None,
    top_p: Any = None,
    guidance: Any = 0.0,
    seed: Any = 0,
    name: Namer = api_name,
) -> None:
    """A one-line :class:`InputError` naming the first bad sampling option (``name(argument, value)``):

    ``candidates`` a whole number in [1, MAX_CANDIDATES]; ``keep`` in [1, candidates] (more than candidates is
    an error, never clamped here); ``temperature`` finite and > 0; ``top_k`` None or a whole number >= 1;
    ``top_p`` None or in (0, 1]; ``guidance`` finite and >= 0; ``seed`` a whole number in [0, 2**64)."""
    if not _is_int(candidates) or not 1 <= candidates <= MAX_CANDIDATES:
        raise InputError(
            f"{name('candidates', candidates)}: must be a whole number from 1 to {MAX_CANDIDATES:,} "
            f"(candidates drawn per prompt)"
        )
    if not _is_int(keep) or keep < 1:
        raise InputError(f"{name('keep', keep)}: must be a whole number of at least 1 (best candidates kept)")
    if keep > candidates:
        raise InputError(
            f"{name('keep', keep)} is more than {name('candidates', candidates)}: it keeps the best "
            f"of the candidates drawn"
        )
    if not _is_real(temperature) or not math.isfinite(temperature) or temperature <= 0:
        raise InputError(f"{name('temperature', temperature)}: must be a finite number above 0 (1.0 = unchanged)")
    if top_k is not None and (not _is_int(top_k) or top_k < 1):
        raise InputError(f"{name('top_k', top_k)}: must be a whole number of at least 1 (or unset: off)")
    if top_p is not None and (not _is_real(top_p) or not math.isfinite(top_p) or not 0 < top_p <= 1):
        raise InputError(f"{name('top_p', top_p)}: must be in (0, 1] (or unset: off)")
    if not _is_real(guidance) or not math.isfinite(guidance) or guidance < 0:
        raise InputError(f"{name('guidance', guidance)}: must be a finite number of at least 0 (0 = off)")
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"{name('seed', seed)}: must be a whole number from 0 to 2**64 - 1")


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
    first_image: torch.Tensor | None = field(repr=False, default=None)  # the first drawn candidate (no reranking)


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
    - ``compile_prior()``: ``torch.compile`` the prior's blocks for the sampling that follows (decode steps
      included; :mod:`genkit.compile`). If compilation fails, one warning says why and sampling runs eagerly.
    """

    tokenizer: Tokenizer
    autoencoder: Autoencoder
    prior: Prior
    reranker: Reranker | None = None
    compiled: list[nn.Module] = field(default_factory=list, repr=False)
    compile_where: str = field(default="sample", repr=False)

    def compile_prior(self, where: str = "sample") -> None:
        """Compile the prior's blocks with dynamic shapes (a decode step's position changes at every step); a
        prior that is not an ``nn.Module`` is left as it is. ``where`` names the setting in the warning of a
        failed compilation (e.g. ``stages.sample``)."""
        if isinstance(self.prior, nn.Module):
            self.compiled = compile_model(self.prior, dynamic=True)
            self.compile_where = where

    def _prior_sample(self, text: TokenBatch, options: dict[str, Any], generator: torch.Generator) -> torch.Tensor:
        """``prior.sample``; compiled, a failed compilation warns once and draws again eagerly, from the same
        generator state (so the same tokens as an eager pipeline)."""
        if not self.compiled:
            return self.prior.sample(text.ids, text.lengths, **options)
        state = generator.get_state()
        try:
            return self.prior.sample(text.ids, text.lengths, **options)
        except Exception as exc:
            if not is_compile_failure(exc):
                raise
            warn_fallback(self.compile_where, exc)
            uncompile(self.compiled)
            self.compiled = []
            generator.set_state(state)
            return self.prior.sample(text.ids, text.lengths, **options)

    @classmethod
    def from_export(cls, export_dir: str | Path, plugins: Plugins | None = None, device: str = "cpu") -> Pipeline:
        export_dir = Path(export_dir)
        if not (export_dir / INDEX).exists():
            raise InputError(f"{export_dir}: not a genkit export (no {INDEX}); run the recipe's stages first")
        plugins = plugins or get_plugins()
        index = read_json(export_dir / INDEX)
        if not isinstance(index, dict):
            raise InputError(f"{export_dir / INDEX}: not an export index (a JSON object of roles)")
        roles = set(index)
        missing = {"tokenizer", "autoencoder", "prior"} - roles
        if missing:
            raise InputError(
                f"{export_dir}: the export has no {', '.join(sorted(missing))} yet "
                f"(finished: {', '.join(sorted(roles))})"
            )

        def load(role: str) -> Any:
            return load_component(export_dir, role, plugins, device)

        return cls(
            load("tokenizer"), load("autoencoder"), load("prior"), load("reranker") if "reranker" in roles else None
        )

    @classmethod
    def from_run(cls, run_dir: str | Path, plugins: Plugins | None = None, device: str = "cpu") -> Pipeline:
        """Load the exports of ``genkit run``'s run directory (``RUN_DIR/export``)."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise InputError(f"{run_dir}: no such run directory")
        return cls.from_export(run_dir / "export", plugins, device)

    # -- steps ----------------------------------------------------------------------------------------
    def check_prime_rows(self, rows: Any, name: Namer = api_name) -> None:
        """A one-line :class:`InputError` unless ``rows`` is a whole number in [1, token grid rows - 1]."""
        h, _ = self.autoencoder.grid
        if not _is_int(rows) or not 0 < rows < h:
            raise InputError(f"{name('prime_rows', rows)}: must be between 1 and {h - 1} (the token grid has {h} rows)")

    def prompt_warnings(self, prompts: Sequence[str], label: Callable[[int], str] = api_prompt_label) -> list[str]:
        """At most one line: the prompts the tokenizer cuts to its ``max_length`` tokens (the prior never sees the
        rest), by ``label(index)``."""
        max_length = getattr(self.tokenizer, "max_length", None)
        cut = []
        for index, prompt in enumerate(prompts):
            before = getattr(self.tokenizer, "truncated", None)
            lengths = self.tokenizer.encode([prompt]).lengths
            after = getattr(self.tokenizer, "truncated", None)
            if isinstance(before, int) and isinstance(after, int):
                if after > before:
                    cut.append(label(index))
            elif max_length is not None and int(lengths[0]) >= max_length:  # no counter: it may have been cut
                cut.append(label(index))
        if not cut:
            return []
        named = ", ".join(cut[:5]) + (f" and {len(cut) - 5} more" if len(cut) > 5 else "")
        verb = "was" if len(cut) == 1 else "were"
        return [
            f"{named} {verb} cut to {max_length} tokens (the tokenizer's max_length); the prior does not see the rest"
        ]

    def prime_codes(self, image: torch.Tensor, rows: int) -> torch.Tensor:
        """The top ``rows`` token rows of ``image`` (``float[3, H, W]`` in [0, 1]): ``Long[1, rows, w]``."""
        self.check_prime_rows(rows)
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
        warn: Callable[[str], None] | None = None,
    ) -> list[PromptSamples]:
        """Draw ``candidates`` per prompt, decode, rerank, and keep the ``keep`` best (best first).

        Reproducible: the same prompts, options and ``seed`` give the same pixels. Prompts are drawn in chunks of
        at most ``max_rows`` sequences. ``progress(done, total)`` is called after each decode step.

        Checked before anything is drawn (a one-line :class:`genkit.InputError` naming the argument):
        :func:`check_prompts`, :func:`check_sample_options`, and ``prime_rows`` (needs ``prime_image``; between 1
        and the token grid's rows - 1; default half the grid). A prompt longer than the tokenizer's ``max_length``
        tokens is drawn from its first ``max_length`` tokens, with a warning: ``warn(message)``, by default
        :func:`warnings.warn`.
        """
        prompts = check_prompts(prompts)
        check_sample_options(
            candidates=candidates,
            keep=keep,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            guidance=guidance,
            seed=seed,
        )
        if prime_rows is not None and prime_image is None:
            raise InputError(f"{api_name('prime_rows', prime_rows)}: needs prime_image (the image to complete)")
        if not _is_int(max_rows) or max_rows < 1:
            raise InputError(f"{api_name('max_rows', max_rows)}: must be a whole number of at least 1")
        prime = None
        if prime_image is not None:
            size = self.autoencoder.image_size
            if (
                not isinstance(prime_image, torch.Tensor)
                or not prime_image.is_floating_point()
                or tuple(prime_image.shape) != (3, size, size)
                or not bool(torch.isfinite(prime_image).all())
            ):
                got = (
                    f"{prime_image.dtype} {list(prime_image.shape)}"
                    if isinstance(prime_image, torch.Tensor)
                    else type(prime_image).__name__
                )
                raise InputError(f"prime_image: must be a float tensor [3, {size}, {size}] in [0, 1], got {got}")
            rows = prime_rows if prime_rows is not None else self.autoencoder.grid[0] // 2
            prime = self.prime_codes(prime_image, rows)  # checks rows
        for message in self.prompt_warnings(prompts):
            if warn is None:
                warnings.warn(message, stacklevel=2)
            else:
                warn(message)
        # on the prior's device: its samplers draw noise there with this generator (a CPU one fails on CUDA)
        prior_parameter = next(iter(self.prior.parameters()), None) if hasattr(self.prior, "parameters") else None
        device = prior_parameter.device if prior_parameter is not None else torch.device("cpu")
        generator = torch.Generator(device=device).manual_seed(int(seed))
        per_call = max(1, max_rows // candidates)
        chunks = [list(prompts[i : i + per_call]) for i in range(0, len(prompts), per_call)]
        steps_per_chunk = self.autoencoder.grid[0] * self.autoencoder.grid[1] - (0 if prime is None else prime.numel())
        results: list[PromptSamples] = []
        for index, chunk in enumerate(chunks):
            text = self.tokenize(chunk)
            # the optional keywords are passed only when used
            options: dict[str, Any] = dict(
                candidates=candidates,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                guidance=guidance,
                generator=generator,
            )
            if prime is not None:
                options["prime_ids"] = prime.expand(len(chunk), -1, -1)
            if progress is not None:
                offset = index * steps_per_chunk
                total = steps_per_chunk * len(chunks)
                options["progress"] = lambda done, _total, offset=offset, total=total: progress(offset + done, total)
            codes = self._prior_sample(text, options, generator)
            images = torch.cat([self.autoencoder.decode(part) for part in torch.split(codes, 64)])
            scores = None
            if self.reranker is not None:
                scores = self.score_tokens(
                    text.ids.repeat_interleave(candidates, 0), text.lengths.repeat_interleave(candidates, 0), images
                )
            for row, prompt in enumerate(chunk):
                block = slice(row * candidates, (row + 1) * candidates)
                if scores is None:
                    order = list(range(keep))
                    kept_scores = None
                else:
                    ranked = torch.argsort(scores[block], descending=True, stable=True)[:keep]
                    order = ranked.tolist()
                    kept_scores = [float(scores[block][i]) for i in order]
                results.append(
                    PromptSamples(
                        prompt=prompt,
                        images=images[block][order],
                        codes=codes[block][order],
                        scores=kept_scores,
                        indices=order,
                        candidates=candidates,
                        first_image=images[block][0],
                    )
                )
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
    def score_tokens(
        self, text_ids: torch.Tensor, text_lengths: torch.Tensor, images: torch.Tensor, *, batch_size: int = 128
    ) -> torch.Tensor:
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
            for ids, lengths, imgs in zip(
                torch.split(text_ids, batch_size),
                torch.split(text_lengths, batch_size),
                torch.split(images, batch_size),
                strict=True,
            )
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
            raise InputError(
                f"score: images must be {expected}, got values in "
                f"[{float(images.min()):.3g}, {float(images.max()):.3g}]"
            )

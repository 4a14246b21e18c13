"""``torch.compile`` for genkit's models: regional compilation of the blocks a model repeats.

:func:`compile_model` compiles each of ``model.shard_units()`` (the transformer blocks of a prior; else each of
``model.residual_blocks()``; else the whole model) in place with ``nn.Module.compile``: parameter names, the
state dict and FSDP2's units are unchanged, and blocks of the same structure share compiled code (a block with
another attention layout compiles once more). This is how PyTorch recommends compiling under FSDP2 and
activation checkpointing, and unlike compiling a stage's whole loss it never recompiles for a changing Python
number (the step, an annealed temperature). Stages call their own methods (``loss``, ``encode``), not
``forward``, which is why the blocks and not ``model.forward`` are compiled.

Compilation happens at a block's first call. When it fails (no C++ compiler for inductor on the CPU, an
operation dynamo cannot trace, an inductor bug), :func:`is_compile_failure` recognises the error; the caller
then says so once with :func:`warn_fallback`, runs :func:`uncompile` and repeats the work eagerly.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

from torch import nn

#: Where errors of compilation come from (dynamo's tracing, AOTAutograd, inductor's code generation and builds).
COMPILE_MODULES = ("torch._dynamo", "torch._inductor", "torch._functorch", "torch._subclasses", "torch.fx")


class CompileFallbackWarning(UserWarning):
    """``torch.compile`` failed for a stage; it runs eagerly (the same computation, without the speed-up)."""


def compile_targets(model: nn.Module) -> list[nn.Module]:
    """The modules :func:`compile_model` compiles: ``shard_units()``, else ``residual_blocks()``, else the model."""
    for name in ("shard_units", "residual_blocks"):
        method = getattr(model, name, None)  # optional members (nn.Module's __getattr__ types them as modules)
        if callable(method):
            units = list(method())
            if units:
                return units
    return [model]


def compile_model(model: nn.Module, **options: Any) -> list[nn.Module]:
    """Compile :func:`compile_targets` of ``model`` in place (``options`` go to ``torch.compile``); returns them."""
    targets = compile_targets(model)
    for target in targets:
        target.compile(**options)
    return targets


def uncompile(targets: list[nn.Module]) -> None:
    """Undo :func:`compile_model`: the modules run eagerly again (``nn.Module.compile`` keeps the compiled call in
    ``_compiled_call_impl``; ``None`` is its value for a module never compiled)."""
    for target in targets:
        target._compiled_call_impl = None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_compile_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) comes from compiling rather than from the model."""
    return any(type(e).__module__.startswith(COMPILE_MODULES) for e in _chain(exc))


def failure_summary(exc: BaseException) -> str:
    """One line: the compile error's type, and the type and first line of the error it was raised from."""
    chain = list(_chain(exc))
    outer = next((e for e in chain if type(e).__module__.startswith(COMPILE_MODULES)), exc)
    inner = chain[-1]
    first = (str(inner).strip().splitlines() or [""])[0][:300]
    cause = f"{type(inner).__name__}: {first}" if first else type(inner).__name__
    return cause if inner is outer else f"{type(outer).__name__} from {cause}"


def warn_fallback(where: str, exc: BaseException) -> None:
    """The one warning of a failed compilation, naming ``where`` (e.g. ``stages.prior``) and the error."""
    warnings.warn(
        f"{where}: torch.compile failed ({failure_summary(exc)}); running eagerly instead (same results, "
        "no compile speed-up; set compile: false to skip the attempt)",
        CompileFallbackWarning,
        stacklevel=3,
    )

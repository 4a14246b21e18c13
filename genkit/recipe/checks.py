"""Checks across a recipe's sections, once each section has validated on its own.

They find before training what ``genkit run`` would otherwise meet only once a stage starts: a stage whose
component section is missing, a prior or reranker without a tokenizer, and each component's own
:meth:`genkit.Params.recipe_problems` against what the recipe fixes (the image size of the data section). Each
problem becomes one line ``FILE: dotted.key: message``. Nothing is built and no file is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genkit.plugins.context import BuildContext
from genkit.plugins.registry import ROLES, Registry

#: stage name -> the role it trains (the tokenizer has no stage of its own: it trains with the prior).
STAGE_ROLES = {"autoencoder": "autoencoder", "prior": "prior", "reranker": "reranker"}
#: stages that read captions as token ids, so need the recipe's tokenizer (the pipeline trains it first).
TOKENIZED_STAGES = ("prior", "reranker")
#: keys of the data section that may give the image size (the first that is an int wins).
IMAGE_SIZE_KEYS = ("size", "image_size")


@dataclass(frozen=True)
class Problem:
    """One problem: the key it is reported under, and the other keys whose override may have caused it."""

    loc: tuple[str, ...]
    message: str
    related: tuple[tuple[str, ...], ...] = ()


def cross_section_problems(recipe: Any, registry: Registry) -> list[Problem]:
    """Every problem between the sections of a validated ``recipe``, in recipe order."""
    problems: list[Problem] = []
    stages = recipe.stages
    for stage, role in STAGE_ROLES.items():
        section = ROLES[role]
        if getattr(stages, stage, None) is not None and getattr(recipe, section, None) is None:
            kinds = registry.kinds(role)
            hint = f"e.g. {section}: {{kind: {kinds[0]}}}" if kinds else f"no installed plugin registers a {role}"
            message = f"trains the {role}, but the recipe has no {section}: section ({hint})"
            problems.append(Problem(("stages", stage), message, ((section,),)))
    tokenized = [stage for stage in TOKENIZED_STAGES if getattr(stages, stage, None) is not None]
    tokenizers = registry.kinds("tokenizer")
    if tokenized and getattr(recipe, ROLES["tokenizer"], None) is None and tokenizers:
        needing = " and ".join(f"stages.{stage}" for stage in tokenized)
        problems.append(
            Problem(
                (ROLES["tokenizer"],),
                f"{needing} {'need' if len(tokenized) > 1 else 'needs'} a tokenizer: section to turn captions into "
                f"token ids (e.g. tokenizer: {{kind: {tokenizers[0]}}})",
                tuple(("stages", stage) for stage in tokenized),
            )
        )
    size, size_key = image_size(recipe)
    context = BuildContext(image_size=size)
    data_keys = ((ROLES["dataset"], size_key),) if size_key else ((ROLES["dataset"],),)
    for role, section in ROLES.items():
        params = getattr(recipe, section, None)
        hook = getattr(params, "recipe_problems", None)
        if hook is None:
            continue
        for key, message in hook(context).items():
            loc = (section, *key.split(".")) if key else (section,)
            problems.append(Problem(loc, message, data_keys if role != "dataset" else ()))
    return problems


def image_size(recipe: Any) -> tuple[int | None, str | None]:
    """``(image size, its key in the data section)``, or ``(None, None)`` when the dataset declares none."""
    data = getattr(recipe, ROLES["dataset"], None)
    for key in IMAGE_SIZE_KEYS:
        value = getattr(data, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value, key
    return None, None

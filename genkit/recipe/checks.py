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
from genkit.plugins.registry import Registry

#: keys of the data section that may give the image size (the first that is an int wins).
IMAGE_SIZE_KEYS = ("size", "image_size")


@dataclass(frozen=True)
class Problem:
    """One problem: the key it is reported under, and the other keys whose override may have caused it."""

    loc: tuple[str, ...]
    message: str
    related: tuple[tuple[str, ...], ...] = ()


def cross_section_problems(recipe: Any, registry: Registry) -> list[Problem]:
    """Every problem between the sections of a validated ``recipe``, in recipe order.

    From the registered stages: a configured stage that trains a role needs that role's section, and a role
    that a configured stage needs and that an implied stage trains (the tokenizer) needs its section too."""
    problems: list[Problem] = []
    configured = [stage for stage in registry.stages.values() if getattr(recipe.stages, stage.name, None) is not None]
    for stage in configured:
        if stage.trains is None:
            continue
        section = registry.role(stage.trains).section
        if getattr(recipe, section, None) is None:
            kinds = registry.kinds(stage.trains)
            hint = (
                f"e.g. {section}: {{kind: {kinds[0]}}}" if kinds else f"no installed plugin registers a {stage.trains}"
            )
            message = f"trains the {stage.trains}, but the recipe has no {section}: section ({hint})"
            problems.append(Problem(("stages", stage.name), message, ((section,),)))
    for implied in (stage for stage in registry.stages.values() if stage.implied and stage.trains is not None):
        role = registry.role(str(implied.trains))
        needing = [stage.name for stage in configured if role.name in stage.needs]
        kinds = registry.kinds(role.name)
        if needing and getattr(recipe, role.section, None) is None and kinds:
            named = " and ".join(f"stages.{name}" for name in needing)
            problems.append(
                Problem(
                    (role.section,),
                    f"{named} {'need' if len(needing) > 1 else 'needs'} a {role.section}: section, e.g. "
                    f"{role.section}: {{kind: {kinds[0]}}} (the {role.name}: {role.description.rstrip('.')})",
                    tuple(("stages", name) for name in needing),
                )
            )
    size, size_key = image_size(recipe, registry)
    context = BuildContext(image_size=size)
    data_section = registry.role("dataset").section
    data_keys = ((data_section, size_key),) if size_key else ((data_section,),)
    for name, spec in registry.roles.items():
        params = getattr(recipe, spec.section, None)
        hook = getattr(params, "recipe_problems", None)
        if hook is None:
            continue
        for key, message in hook(context).items():
            loc = (spec.section, *key.split(".")) if key else (spec.section,)
            problems.append(Problem(loc, message, data_keys if name != "dataset" else ()))
    return problems


def image_size(recipe: Any, registry: Registry) -> tuple[int | None, str | None]:
    """``(image size, its key in the data section)``, or ``(None, None)`` when the dataset declares none."""
    data = getattr(recipe, registry.role("dataset").section, None)
    for key in IMAGE_SIZE_KEYS:
        value = getattr(data, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value, key
    return None, None

"""Settings measured in optimizer steps, declared as such so that tools can rescale a run's length.

A field that counts optimizer steps (a schedule's length, an interval between periodic actions) is declared
with the :data:`Steps` type, or with the :class:`StepCount` marker in its ``Annotated`` metadata::

    class MyParams(genkit.Params):
        warmup_steps: genkit.Steps = Field(1000, ge=0, description="Warm-up length, in steps.")
        restart_every: Annotated[int, genkit.StepCount()] = Field(50, ge=1, description="Steps between restarts.")

Validation is unchanged (it is still an ``int`` with the field's own constraints); the marker only declares the
unit. ``genkit ablate --steps-scale F`` multiplies every marked field of the recipe (stage settings and every
component's params) by ``F``, so a shortened run keeps its schedules and intervals in proportion. The JSON
Schema of a marked field carries ``"x-unit": "steps"``.
"""

from __future__ import annotations

import json
import typing
from typing import Annotated, Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["StepCount", "Steps", "is_step_count", "scale_step_count", "scaled_step_counts", "step_count_overrides"]


class StepCount:
    """``Annotated`` marker: this integer setting is a number of optimizer steps (see :mod:`genkit.steps`)."""

    def __repr__(self) -> str:
        return "StepCount()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StepCount)

    def __hash__(self) -> int:
        return hash(StepCount)

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema: dict[str, Any] = handler(core_schema)
        schema["x-unit"] = "steps"
        return schema


#: An ``int`` counted in optimizer steps: ``warmup: genkit.Steps = Field(0, ge=0, description=...)``.
Steps = Annotated[int, StepCount()]


def _marked(annotation: Any) -> bool:
    """Whether ``StepCount`` appears in ``annotation`` (also inside ``Optional[...]``, ``list[...]``, ...)."""
    if typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        return any(isinstance(extra, StepCount) for extra in extras) or _marked(base)
    return any(_marked(arg) for arg in typing.get_args(annotation))


def is_step_count(field: FieldInfo) -> bool:
    """Whether a pydantic field is declared as counting optimizer steps."""
    return any(isinstance(item, StepCount) for item in field.metadata) or _marked(field.annotation)


def scale_step_count(value: int, factor: float) -> int:
    """``value * factor`` rounded to an int; 0 stays 0 and a positive count stays at least 1.

    The map is monotonic, so an order between two step counts (warm-up <= steps) survives the scaling.
    """
    if factor <= 0:
        raise ValueError(f"a steps scale must be positive, got {factor}")
    if value <= 0:
        return value
    return max(1, round(value * factor))


def _scale_value(value: Any, factor: float) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return scale_step_count(value, factor)
    if isinstance(value, (list, tuple)):
        return type(value)(_scale_value(item, factor) for item in value)
    return value


def scaled_step_counts(model: BaseModel, factor: float) -> dict[tuple[str | int, ...], Any]:
    """``{field path: scaled value}`` for every step-count field in ``model`` and the models nested in it.

    Paths are tuples of field names (and list indices), e.g. ``("stages", "prior", "warmup")``. Fields whose
    value is ``None`` are left out.
    """
    found: dict[tuple[str | int, ...], Any] = {}
    _walk(model, factor, (), found)
    return found


def _walk(node: Any, factor: float, path: tuple[str | int, ...], found: dict[tuple[str | int, ...], Any]) -> None:
    if isinstance(node, BaseModel):
        for name, field in type(node).model_fields.items():
            value = getattr(node, name)
            if value is None:
                continue
            if is_step_count(field):
                scaled = _scale_value(value, factor)
                if scaled != value:
                    key = (*path, name)
                    found[key] = scaled
            else:
                _walk(value, factor, (*path, name), found)
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            _walk(item, factor, (*path, index), found)


def step_count_overrides(model: BaseModel, factor: float) -> list[str]:
    """Recipe overrides (``stages.prior.warmup=250``) that scale every step count of a validated recipe."""
    return [
        f"{'.'.join(map(str, path))}={json.dumps(list(value) if isinstance(value, tuple) else value)}"
        for path, value in scaled_step_counts(model, factor).items()
    ]

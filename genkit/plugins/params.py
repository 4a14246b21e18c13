"""The number rules of every recipe section (:class:`SaneNumbers`) and the base class of a component's parameters
(:class:`Params`)."""

from __future__ import annotations

import collections.abc
import typing
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from genkit.steps import is_step_count

if TYPE_CHECKING:
    from genkit.plugins.context import BuildContext


#: No step count (a field declared with :data:`genkit.Steps`) may exceed this: 10^12 steps is past any real run.
MAX_STEPS = 10**12
#: A component whose parameter count (a plugin's estimate) exceeds this is refused when the recipe validates.
MAX_PARAMETERS = 10**12
_INT64_MAX = 2**63 - 1


class SaneNumbers(BaseModel):
    """Number rules shared by every recipe section (component params, stage settings, the recipe's top level).

    - A boolean is never a number: ``depth: true`` is refused where an int or float is expected (pydantic would
      take it as 1), also inside lists (``image_widths: [true, 16]``) and mappings.
    - Floats are finite (``.inf`` and ``.nan`` are refused).
    - Integers fit in 64 bits, and a step count (:data:`genkit.Steps`) is at most :data:`MAX_STEPS`.

    Integral floats stay accepted for ints (``steps: 2e3`` is 2000), as pydantic does.
    """

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _sane_numbers(cls, data: Any) -> Any:
        # A model validator, not a "*" field validator: pydantic allows no before-validator on the ``kind``
        # discriminator that the recipe schema adds. The ValidationError raised here keeps each field's location.
        if not isinstance(data, dict):
            return data
        errors = []
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is None or not _takes_numbers(field.annotation):
                continue
            problem = _number_problem(value, is_step_count(field))
            if problem is not None:
                where, error = problem
                errors.append(InitErrorDetails(type=error, loc=(name, *where), input=value))
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


class Params(SaneNumbers):
    """Base class for a component's parameters.

    Subclasses declare every field with ``Field(default, description=...)``. Unknown keys are errors
    (``extra="forbid"``), and the model is frozen so that a built component's settings cannot drift from the
    recipe that produced it. Do not declare ``kind``: the recipe schema adds it. The number rules of
    :class:`SaneNumbers` apply to every field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    def recipe_problems(self, context: BuildContext) -> dict[str, str]:
        """What stops these params from working in this recipe, known before anything is built or trained.

        Called when a recipe validates (``genkit validate``, ``run``, ``ablate``), after every section passed its
        own checks, with what the recipe fixes before training: today ``context.image_size``, from the data
        section (``None`` when the dataset does not declare a ``size``). Returns ``{field: message}``, empty when
        fine; each item is reported as ``FILE: section.field: message`` (``""`` for the section itself). Keep it
        cheap: no building, no file access. A check of one field against another usually belongs in a pydantic
        validator instead, so that :func:`genkit.make_params` applies it too.
        """
        return {}


def too_many_parameters(estimate: float, what: str) -> None:
    """Raise ``ValueError`` (for a pydantic validator) when ``estimate`` exceeds :data:`MAX_PARAMETERS`.

    Plugins call it from a ``model_validator`` with a cheap lower bound of their parameter count, so that an
    absurd width x depth is refused when the recipe validates instead of when the model is allocated."""
    if estimate > MAX_PARAMETERS:
        raise ValueError(
            f"{what} give at least {estimate:.3g} parameters, more than the {MAX_PARAMETERS:.0e} sanity bound"
        )


def _number_problem(value: Any, steps: bool) -> tuple[tuple[Any, ...], PydanticCustomError] | None:
    """The first number rule that ``value`` (a raw field value, or an item inside it) breaks: where, and why."""
    if isinstance(value, bool):
        return (), PydanticCustomError("bool_for_number", "expected a number, not a boolean (true/false)")
    if isinstance(value, (int, float)):
        if steps and value > MAX_STEPS:
            return (), PydanticCustomError("too_many_steps", f"at most 10^12 steps, got {value:.3g}")
        if isinstance(value, int) and not -_INT64_MAX - 1 <= value <= _INT64_MAX:
            return (), PydanticCustomError("int_too_large", "too large: an integer setting must fit in 64 bits")
        return None
    items = enumerate(value) if isinstance(value, (list, tuple)) else value.items() if isinstance(value, dict) else ()
    for key, item in items:
        problem = _number_problem(item, steps)
        if problem is not None:
            return (key, *problem[0]), problem[1]
    return None


def _scalar_types(annotation: Any) -> set[Any]:
    """Every scalar type an annotation accepts, through ``Optional``/``Union``/``Annotated``/containers."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return {type(value) for value in typing.get_args(annotation)}
    if origin is None:
        return {annotation}
    if origin in (dict, collections.abc.Mapping):
        args = typing.get_args(annotation)
        return _scalar_types(args[1]) if len(args) == 2 else {Any}
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _scalar_types(args[0])
    found: set[Any] = set()
    for arg in args:
        if arg is not Ellipsis:
            found |= _scalar_types(arg)
    return found


def _takes_numbers(annotation: Any) -> bool:
    """Whether a field of this type expects numbers (somewhere in it) and never booleans or anything."""
    types_ = _scalar_types(annotation)
    return bool(types_ & {int, float}) and not types_ & {bool, Any, object}

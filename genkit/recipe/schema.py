"""The recipe model, built from whatever the loaded plugins registered.

Each role section is a pydantic discriminated union on ``kind`` over the registered ``Params`` models (with a
``kind: Literal[...]`` field added here, so plugins never declare it).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from genkit.plugins.params import SaneNumbers
from genkit.plugins.registry import ComponentSpec, Registry


class RecipeBase(SaneNumbers):
    """Top-level keys shared by every recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    name: str | None = Field(None, description="A short name for the run (default: the file's name).")
    description: str | None = Field(None, description="What this recipe is for.")
    seed: int = Field(0, description="Seed for every stage that does not set its own.")
    stages: Any = Field(None, description="Which stages run and how they train.")  # the registry's Stages model
    resolved_with: dict[str, Any] | None = Field(
        None, description="Written by genkit into recipe.resolved.yaml: genkit and plugin versions (informational)."
    )


def kind_model(spec: ComponentSpec) -> type[BaseModel]:
    """``spec.params`` with a ``kind: Literal[spec.kind]`` field in front (what a recipe section validates against)."""
    name = "".join(part.capitalize() for part in spec.kind.split("_")) + spec.role.capitalize()
    return create_model(
        name,
        __base__=spec.params,
        __doc__=spec.description or spec.params.__doc__,
        kind=(Literal[spec.kind], Field(description=f"{spec.role} kind (plugin {spec.owner})")),  # type: ignore[arg-type]  # a Literal built at run time
    )


class StagesBase(SaneNumbers):
    """Which stages run: one optional section per declared stage with settings, run in declaration order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def names(self) -> list[str]:
        """The configured stages, in pipeline order."""
        return [name for name in type(self).model_fields if getattr(self, name) is not None]


def build_stages_model(registry: Registry) -> type[StagesBase]:
    """The ``stages:`` model: a ``stages.NAME`` field for each registered stage that has settings."""
    fields: dict[str, Any] = {
        name: (Optional[stage.settings], Field(None, description=stage.description))  # noqa: UP045 - built at run time
        for name, stage in registry.stages.items()
        if stage.settings is not None
    }
    return create_model("Stages", __base__=StagesBase, **fields)


def build_recipe_model(registry: Registry) -> type[RecipeBase]:
    stages = build_stages_model(registry)
    fields: dict[str, Any] = {
        "stages": (stages, Field(default_factory=stages, description="Which stages run and how they train."))
    }
    for role, spec in registry.roles.items():
        section = spec.section
        members = tuple(kind_model(registry.get(role, kind)) for kind in registry.kinds(role))
        required = spec.required
        if not members:
            fields[section] = (type(None), Field(None, description=f"No plugin registers a {role}."))
            continue
        # a union built at run time (a type checker cannot see it; ruff would rewrite it wrongly)
        union = Annotated[Union[members], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
        if required:
            fields[section] = (union, Field(description=f"The {role}: one of {', '.join(registry.kinds(role))}."))
        else:
            fields[section] = (
                Optional[union],  # noqa: UP045 - a type built at run time
                Field(None, description=f"The {role}: one of {', '.join(registry.kinds(role))}."),
            )
    return create_model("Recipe", __base__=RecipeBase, **fields)

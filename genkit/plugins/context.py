"""BuildContext: what one component needs to know about the others in its recipe."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from genkit.errors import InputError


@dataclass(frozen=True)
class BuildContext:
    """Facts a component's ``build(params, context)`` may depend on, filled in stage order.

    - ``image_size``: side of the square RGB images, from the dataset section.
    - ``text_vocab_size``/``text_length``: from the built tokenizer (``vocab_size``, ``max_length``).
    - ``image_vocab_size``/``image_grid``: from the built autoencoder (``vocab_size``, ``grid``).

    It is saved in each export's ``config.json`` so that a component rebuilds identically on its own.
    """

    image_size: int | None = None
    text_vocab_size: int | None = None
    text_length: int | None = None
    image_vocab_size: int | None = None
    image_grid: tuple[int, int] | None = None

    def require(self, name: str) -> Any:
        """The value of ``name``, or an error saying which part of the recipe must provide it."""
        value = getattr(self, name)
        if value is None:
            from genkit.plugins.manager import get_plugins

            roles = get_plugins().registry.roles.values()
            source = next((f"the {role.section}: section" for role in roles if name in role.provides), "the recipe")
            raise InputError(f"this component needs {name}, which comes from {source}; the recipe has none")
        return value

    def with_(self, **changes: Any) -> BuildContext:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if data["image_grid"] is not None:
            data["image_grid"] = list(data["image_grid"])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildContext:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if known.get("image_grid") is not None:
            known["image_grid"] = tuple(known["image_grid"])
        return cls(**known)

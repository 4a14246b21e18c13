"""docs/reference/ is generated from the registry: the committed pages must match the code."""

from __future__ import annotations

from pathlib import Path

from genkit.docgen import reference_pages
from genkit.plugins import Plugins

FIRST_PARTY = "bpe,dvae,vqvae,sparse_transformer,contrastive"
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


def test_reference_pages_are_up_to_date():
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": FIRST_PARTY}).load()
    pages = reference_pages(plugins)
    stale = [name for name, text in pages.items()
             if not (REFERENCE / name).exists() or (REFERENCE / name).read_text(encoding="utf-8") != text]
    assert not stale, (f"docs/reference is stale for {stale}: run "
                       f"`GENKIT_LOAD_PLUGINS={FIRST_PARTY} genkit docs --out docs/reference`")


def test_every_parameter_of_every_kind_is_documented():
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": FIRST_PARTY}).load()
    pages = reference_pages(plugins)
    for spec in plugins.registry:
        page = pages[f"{spec.role}.md"]
        assert f"## `kind: {spec.kind}`" in page
        for name, field in spec.params.model_fields.items():
            assert f"| `{name}` |" in page, (spec.kind, name)
            assert field.description, f"{spec.role} {spec.kind}: parameter {name!r} has no description"

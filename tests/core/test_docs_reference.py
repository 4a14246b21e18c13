"""docs/reference/ and the parameter sections of docs/plugins/ are generated from the registry: the committed
pages must match the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from genkit.docgen import BEGIN, END, plugin_pages, plugin_section, reference_pages, with_section
from genkit.errors import InputError
from genkit.plugins.manager import Plugins

FIRST_PARTY = "bpe,dvae,vqvae,fsq,vqgan,sparse_transformer,contrastive,maskgit"
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"
PLUGIN_PAGES = REFERENCE.parent / "plugins"


def test_reference_pages_are_up_to_date():
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": FIRST_PARTY}).load()
    pages = reference_pages(plugins)
    stale = [
        name
        for name, text in pages.items()
        if not (REFERENCE / name).exists() or (REFERENCE / name).read_text(encoding="utf-8") != text
    ]
    assert not stale, (
        f"docs/reference is stale for {stale}: run `GENKIT_LOAD_PLUGINS={FIRST_PARTY} genkit docs --out docs/reference`"
    )


def test_every_parameter_of_every_kind_is_documented():
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": FIRST_PARTY}).load()
    pages = reference_pages(plugins)
    for spec in plugins.registry:
        page = pages[f"{spec.role}.md"]
        assert f"## `kind: {spec.kind}`" in page
        for name, field in spec.params.model_fields.items():
            assert f"| `{name}` |" in page, (spec.kind, name)
            assert field.description, f"{spec.role} {spec.kind}: parameter {name!r} has no description"


def test_plugin_pages_parameter_sections_are_up_to_date():
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": FIRST_PARTY}).load()
    pages = plugin_pages(PLUGIN_PAGES, plugins)
    assert {page.stem for page in pages} == set(FIRST_PARTY.split(","))
    stale = [page.name for page, text in pages.items() if page.read_text(encoding="utf-8") != text]
    assert not stale, (
        f"docs/plugins parameter sections are stale for {stale}: run `GENKIT_LOAD_PLUGINS={FIRST_PARTY} genkit docs`"
    )


def test_every_parameter_of_every_kind_is_in_its_plugin_page():
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": FIRST_PARTY}).load()
    for spec in plugins.registry:
        if plugins.infos[spec.owner].builtin:
            continue  # core's own components (datasets) have no plugin page
        text = (PLUGIN_PAGES / f"{spec.owner}.md").read_text(encoding="utf-8")
        assert text.count(BEGIN) == 1 and text.count(END) == 1, spec.owner
        section = text[text.index(BEGIN) : text.index(END)]
        assert f"### `{plugins.registry.role(spec.role).section}: {{kind: {spec.kind}}}`" in section
        for name in spec.params.model_fields:
            assert f"| `{name}` |" in section, (spec.owner, spec.kind, name)


def test_with_section_replaces_only_the_marked_block_and_inserts_once():
    plugins = Plugins(env={"GENKIT_LOAD_PLUGINS": FIRST_PARTY}).load()
    section = plugin_section("dvae", plugins)
    assert plugin_section("not_installed", plugins) is None
    page = "# Title\n\nIntro.\n\n```\n## not a heading\n```\n\n## Model\nText.\n"
    once = with_section(page, section)
    assert once == page.replace("## Model", section + "\n\n## Model")
    assert with_section(once, section) == once
    assert with_section(once.replace("`hidden`", "`old`"), section) == once
    assert with_section("# Title\n", section) == "# Title\n\n" + section + "\n"
    with pytest.raises(InputError):
        with_section(BEGIN + "\n", section)

"""Property tests for override parsing and application, and for typing by the recipe's fields."""

from __future__ import annotations

import copy
import json

import yaml
from hypothesis import given
from hypothesis import strategies as st

from genkit.recipe import apply_overrides, parse_override, validate_recipe

names = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True).filter(
    lambda s: s not in {"data", "tokenizer", "autoencoder", "prior", "reranker"}
)
scalars = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.text(
        st.characters(max_codepoint=0x2FF, blacklist_categories=("Cc", "Cs")), max_size=12
    ),  # YAML forbids control chars
    st.none(),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3), max_leaves=6
)
trees = st.dictionaries(
    names,
    st.recursive(scalars, lambda inner: st.dictionaries(names, inner, max_size=3), max_leaves=8),
    min_size=1,
    max_size=4,
)


def as_text(value) -> str:
    """How a user would type the value: JSON is YAML (flow style)."""
    return json.dumps(value, ensure_ascii=False)


@given(path=st.lists(names, min_size=1, max_size=4), value=values)
def test_parse_round_trips_path_and_value(path, value):
    override = parse_override(f"{'.'.join(path)}={as_text(value)}")
    assert override.path == tuple(path)
    assert override.value == value


@given(tree=trees, data=st.data(), value=values)
def test_apply_sets_exactly_one_path_and_never_mutates_input(tree, data, value):
    # walk an existing path, then maybe extend it with new keys
    path, node = [], tree
    while isinstance(node, dict) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node)))
        path.append(key)
        node = node[key]
    if isinstance(node, dict):  # add new keys below a section (the first one must not exist yet)
        first = data.draw(names.filter(lambda n: n not in node))
        path.extend([first, *data.draw(st.lists(names, max_size=1))])
    # else: the path ends on an existing leaf, which the override replaces
    before = copy.deepcopy(tree)
    result = apply_overrides(tree, [parse_override(f"{'.'.join(path)}={as_text(value)}")])
    assert tree == before
    node = result
    for key in path:
        node = node[key]
    assert node == value
    # everything not on the path is untouched
    for key in tree:
        if key != path[0]:
            assert result[key] == tree[key]


@given(
    depth=st.integers(1, 512),
    width=st.integers(1, 4096),
    dropout=st.floats(0, 1),
    tie=st.booleans(),
    attention=st.lists(st.sampled_from(["row", "column", "conv", "full"]), min_size=1, max_size=6),
    lr=st.floats(1e-8, 10),
    steps=st.integers(1, 10**7),
)
def test_overrides_are_typed_by_the_field(toy_plugins, depth, width, dropout, tie, attention, lr, steps):
    base = {"data": {"kind": "toyset"}, "prior": {"kind": "toy_prior"}, "stages": {"prior": {}}}
    overrides = [
        f"prior.depth={depth}",
        f"prior.width={float(width)}" if width % 2 else f"prior.width={width}",  # 12.0 is a valid int
        f"prior.dropout={dropout!r}",
        f"prior.tie_embeddings={'true' if tie else 'false'}",
        f"prior.attention=[{', '.join(attention)}]",
        f"stages.prior.lr={lr!r}",
        f"stages.prior.steps={steps}",
    ]
    recipe = validate_recipe(base, "r.yaml", overrides, toy_plugins).recipe
    assert recipe.prior.depth == depth and isinstance(recipe.prior.depth, int)
    assert recipe.prior.width == width and isinstance(recipe.prior.width, int)
    assert recipe.prior.dropout == dropout
    assert recipe.prior.tie_embeddings is tie
    assert recipe.prior.attention == attention
    assert recipe.stages.prior.lr == lr and recipe.stages.prior.steps == steps


@given(hidden=st.integers(1, 64), codes=st.integers(2, 4096))
def test_swapping_a_component_resets_it_to_the_new_kinds_defaults(toy_plugins, hidden, codes):
    base = {"data": {"kind": "toyset"}, "autoencoder": {"kind": "toy_ae", "hidden": hidden, "codebook_size": codes}}
    swapped = validate_recipe(base, "r.yaml", ["autoencoder=toy_vq"], toy_plugins).recipe.autoencoder
    assert swapped.kind == "toy_vq" and swapped.codebook_size == 32  # the new kind's default, not the old value
    same = validate_recipe(base, "r.yaml", ["autoencoder.kind=toy_ae"], toy_plugins).recipe.autoencoder
    assert same.hidden == hidden and same.codebook_size == codes  # same kind: nothing reset
    node = validate_recipe(base, "r.yaml", ["autoencoder={kind: toy_vq, beta: 0.5}"], toy_plugins).recipe.autoencoder
    assert node.kind == "toy_vq" and node.beta == 0.5


def test_scientific_notation_is_a_number_in_files_and_overrides(toy_plugins):
    data = yaml.safe_load("data: {kind: toyset}\nprior: {kind: toy_prior}\nstages: {prior: {lr: 1}}")
    recipe = validate_recipe(data, "r.yaml", ["stages.prior.lr=3e-4", "stages.prior.steps=2e3"], toy_plugins).recipe
    assert recipe.stages.prior.lr == 3e-4 and recipe.stages.prior.steps == 2000

"""Hostile recipes (issue 18, "nothing lost, nothing silent"): every bad recipe is one line, exit 2, no traceback,
and `genkit validate` catches it, so that `genkit run` rejects it before training (no run directory, no
recipe.resolved.yaml, no checkpoint). Also: every built-in recipe stays valid, and folder datasets refuse caption
files that name images outside their directory.

Each row of CASES is (id, recipe edits, overrides, names): the edits change a copy of TINY_RUN_RECIPE (dotted key ->
value, or DELETE), or replace the file by YAML text; the single error line must contain every name ("{file}" is the
recipe's path).
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from harness import TINY_RUN_RECIPE, assert_one_line_error, run_cli

DELETE = object()


@dataclass(frozen=True)
class Case:
    id: str
    names: tuple[str, ...]
    edits: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    text: str | None = None  # the whole recipe file, instead of TINY_RUN_RECIPE plus edits
    code: int = 2


def edited(edits: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(TINY_RUN_RECIPE)
    for key, value in edits.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        if value is DELETE:
            node.pop(last)
        else:
            node[last] = value
    return data


#: A small recipe as text (line numbers matter for the duplicate-key rows): line 8 is `  depth: 2`.
TEXT = """\
seed: 0
data: {kind: shapes, size: 16, count: 600, validation_count: 64, max_shapes: 1}
tokenizer: {kind: bpe, vocab_size: 300, max_length: 12}
autoencoder: {kind: vqvae, codebook_size: 64, downsample: 4, hidden: 16, blocks_per_group: 1, codebook_dim: 8}
prior:
  kind: sparse_transformer
  width: 32
  depth: 2
  heads: 2
reranker: {kind: contrastive, width: 32, depth: 1, heads: 2, image_widths: [8, 16], groups: 4, embed_dim: 16}
stages:
  prior: {steps: 4, batch: 16}
"""

HUGE_PRIOR = {"prior.width": 65536, "prior.depth": 1000, "prior.heads": 2}

CASES = [
    # -- YAML: duplicate keys are not merged silently -------------------------------------------------------
    Case("dup_top_level_key", ("{file}:13:", "duplicate key 'seed'", "line 1"), text=TEXT + "seed: 1\n"),
    Case(
        "dup_nested_key",
        ("{file}:9:", "duplicate key 'prior.depth'", "line 8"),
        text=TEXT.replace("  depth: 2\n", "  depth: 2\n  depth: 3\n"),
    ),
    Case(
        "dup_flow_key",
        ("{file}:12:", "duplicate key 'stages.prior.steps'"),
        text=TEXT.replace("{steps: 4, batch: 16}", "{steps: 4, batch: 16, steps: 5}"),
    ),
    Case(
        "dup_key_in_override_value",
        ("override", "duplicate key 'depth'"),
        overrides=("prior={kind: sparse_transformer, depth: 2, depth: 3}",),
    ),
    # -- absurd numbers ---------------------------------------------------------------------------------------
    Case(
        "steps_1e23_in_yaml",
        ("{file}: stages.prior.steps:", "at most"),
        text=TEXT.replace("{steps: 4,", "{steps: 1e23,"),
    ),
    Case(
        "steps_1e23_override",
        ("{file} (override stages.prior.steps=1e23): stages.prior.steps:", "at most"),
        overrides=("stages.prior.steps=1e23",),
    ),
    Case("steps_10_13", ("stages.autoencoder.steps:", "at most"), edits={"stages.autoencoder.steps": 10**13}),
    Case("warmup_1e15", ("stages.prior.warmup:", "at most"), overrides=("stages.prior.warmup=1e15",)),
    Case(
        "plugin_step_count_huge",
        ("autoencoder.restart_every:", "at most"),
        overrides=("autoencoder.restart_every=1e14",),
    ),
    Case(
        "depth_true", ("{file} (override prior.depth=true): prior.depth:", "boolean"), overrides=("prior.depth=true",)
    ),
    Case("width_false_in_file", ("{file}: reranker.width:", "boolean"), edits={"reranker.width": False}),
    Case("batch_true", ("stages.prior.batch:", "boolean"), overrides=("stages.prior.batch=true",)),
    Case("lr_true", ("stages.prior.lr:", "boolean"), overrides=("stages.prior.lr=true",)),
    Case("bool_in_int_list", ("reranker.image_widths", "boolean"), overrides=("reranker.image_widths=[true, 16]",)),
    Case("depth_float", ("prior.depth:", "fractional"), overrides=("prior.depth=2.5",)),
    Case("heads_zero", ("prior.heads:", "greater than or equal to 1"), overrides=("prior.heads=0",)),
    Case(
        "steps_negative",
        ("stages.reranker.steps:", "greater than or equal to 1"),
        overrides=("stages.reranker.steps=-5",),
    ),
    Case("seed_beyond_int64", ("{file}: seed:", "64"), edits={"seed": 10**30}),
    Case("lr_infinite", ("stages.prior.lr:", "finite"), overrides=("stages.prior.lr=.inf",)),
    Case("temperature_nan", ("stages.sample.temperature:", "finite"), overrides=("stages.sample.temperature=.nan",)),
    Case("betas_out_of_range", ("stages.prior.betas:", "[0, 1)"), overrides=("stages.prior.betas=[0.9, 1.5]",)),
    Case("keep_more_than_candidates", ("stages.sample.keep:", "candidates"), overrides=("stages.sample.keep=5",)),
    Case(
        "candidates_below_the_default_keep",
        ("stages.sample.keep:", "keep 4 is more than candidates 2"),
        edits={"stages.sample": {"prompts": ["a red circle"], "candidates": 2}},
    ),
    Case(
        "batch_not_divisible_by_accumulate",
        ("stages.prior.accumulate:", "batch 16"),
        overrides=("stages.prior.accumulate=3",),
    ),
    Case(
        "downsample_not_power_of_two",
        ("autoencoder.downsample:", "power of two"),
        overrides=("autoencoder.downsample=3",),
    ),
    Case("multipliers_wrong_length", ("autoencoder.multipliers:", "3"), overrides=("autoencoder.multipliers=[1, 2]",)),
    Case("prior_width_overflow", ("prior.width:",), overrides=("prior.width=1e30",)),
    Case("codebook_huge", ("autoencoder.codebook_size:",), overrides=("autoencoder.codebook_size=1000000000000",)),
    Case("caption_length_huge", ("tokenizer.max_length:",), overrides=("tokenizer.max_length=1000000000",)),
    Case("prior_parameters_absurd", ("{file}: prior:", "parameters"), edits=HUGE_PRIOR),
    Case(
        "reranker_parameters_absurd",
        ("reranker:", "parameters"),
        edits={"reranker.width": 65536, "reranker.depth": 1000},
    ),
    Case(
        "autoencoder_parameters_absurd",
        ("autoencoder:", "parameters"),
        overrides=(
            "autoencoder.hidden=65536",
            "autoencoder.multipliers=[1, 64, 64]",
            "autoencoder.blocks_per_group=64",
        ),
    ),
    # -- sections that do not fit together ------------------------------------------------------------------
    Case("image_size_not_divisible", ("{file}: autoencoder.downsample:", "18"), edits={"data.size": 18}),
    Case(
        "downsample_larger_than_image",
        ("(override autoencoder.downsample=32): autoencoder.downsample:", "16"),
        overrides=("autoencoder.downsample=32",),
    ),
    Case(
        "dvae_swap_mismatches_image",
        ("(override data.size=20): autoencoder.downsample:", "20"),
        overrides=("autoencoder=dvae", "data.size=20"),
    ),
    Case("prior_section_removed", ("{file}: stages.prior:", "no prior: section"), edits={"prior": DELETE}),
    Case(
        "prior_removed_by_override",
        ("(override prior=null): stages.prior:", "no prior: section"),
        overrides=("prior=null",),
    ),
    Case("reranker_section_removed", ("{file}: stages.reranker:", "no reranker: section"), edits={"reranker": DELETE}),
    Case(
        "autoencoder_section_removed",
        ("{file}: stages.autoencoder:", "no autoencoder: section"),
        edits={"autoencoder": DELETE},
    ),
    Case(
        "tokenizer_section_removed",
        ("{file}: tokenizer:", "stages.prior", "stages.reranker"),
        edits={"tokenizer": DELETE},
    ),
    Case("folder_without_path", ("{file}: data.path:", "directory"), edits={"data": {"kind": "folder", "size": 16}}),
    Case(
        "folder_empty_path_override",
        ("(override data.path=''): data.path:",),
        overrides=("data=folder", "data.size=16", "data.path=''"),
    ),
    Case(
        "webdataset_without_shards",
        ("{file}: data.shards:", "shards"),
        edits={"data": {"kind": "webdataset", "size": 16}},
    ),
    Case(
        "webdataset_empty_shard_list",
        ("data.shards:", "shards"),
        edits={"data": {"kind": "webdataset", "size": 16, "shards": []}},
    ),
    Case(
        "webdataset_empty_validation_shards",
        ("data.validation_shards:",),
        edits={"data": {"kind": "webdataset", "size": 16, "shards": "corpus", "validation_shards": []}},
    ),
    Case("folder_size_huge", ("data.size:",), edits={"data": {"kind": "folder", "path": "x", "size": 10**7}}),
]


def _args(command: str, path: Path, case: Case, out: Path) -> list:
    return [command, path, *case.overrides, *(["--out", out] if command == "run" else [])]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_recipe_is_one_line_before_training(case, command, tmp_path, capsys):
    path = tmp_path / "hostile.yaml"
    path.write_text(case.text if case.text is not None else yaml.safe_dump(edited(case.edits)))
    out = tmp_path / "run"
    result = run_cli(_args(command, path, case, out), capsys)
    assert_one_line_error(result, case.code, *(name.format(file=path) for name in case.names))
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))  # no recipe.resolved.yaml, no checkpoint


# Close to the hostile rows, but fine: validation must not refuse them.
NEAR_MISSES = [
    ("text_recipe", {}, (), TEXT),
    ("tiny_run_recipe", {}, (), None),
    ("integral_float_steps", {}, ("stages.prior.steps=2e3", "stages.prior.warmup=1e2"), None),
    ("step_count_at_the_bound", {}, ("stages.prior.steps=1000000000000",), None),
    ("bool_where_bool", {}, ("stages.prior.flip=true", "reranker.learn_temperature=false"), None),
    ("dvae_at_a_multiple", {}, ("autoencoder=dvae", "data.size=32"), None),
    ("downsample_equals_image", {}, ("autoencoder.downsample=16", "autoencoder.multipliers=[1, 1, 1, 1, 1]"), None),
    (
        "autoencoder_stage_only",
        {
            "prior": DELETE,
            "reranker": DELETE,
            "tokenizer": DELETE,
            "stages.prior": DELETE,
            "stages.reranker": DELETE,
            "stages.sample": DELETE,
        },
        (),
        None,
    ),
    ("prior_section_without_stage", {"stages.prior": DELETE}, (), None),
    ("negative_seed", {"seed": -3}, (), None),
    ("keep_equals_candidates", {}, ("stages.sample.keep=2",), None),
    ("accumulate_divides_batch", {}, ("stages.prior.accumulate=4",), None),
    ("folder_with_path", {"data": {"kind": "folder", "path": "not/yet/there", "size": 16}}, (), None),
    ("webdataset_with_shards", {"data": {"kind": "webdataset", "shards": ["a/*.tar", "b"], "size": 16}}, (), None),
]


@pytest.mark.parametrize(
    "edits, overrides, text", [row[1:] for row in NEAR_MISSES], ids=[row[0] for row in NEAR_MISSES]
)
def test_near_misses_validate(edits, overrides, text, tmp_path, capsys):
    path = tmp_path / "fine.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(edited(edits)))
    result = run_cli(["validate", path, *overrides], capsys)
    assert result.code == 0, result.err
    assert result.out.startswith("ok: ")


def test_every_builtin_recipe_validates(capsys):
    listed = run_cli(["ls"], capsys)
    assert listed.code == 0, listed.err
    names = [line.split()[0] for line in listed.out.splitlines() if line.strip()]
    assert {"shapes/demo", "dalle/paper_12b", "webdataset/example"} <= set(names)
    for name in names:
        result = run_cli(["validate", name], capsys)
        assert result.code == 0, (name, result.err)


def test_params_made_outside_a_recipe_follow_the_same_number_rules():
    import genkit

    with pytest.raises(genkit.InputError, match="depth: expected a number, not a boolean"):
        genkit.make_params("prior", "sparse_transformer", {"depth": True})
    with pytest.raises(genkit.InputError, match="restart_every: at most 10\\^12 steps"):
        genkit.make_params("autoencoder", "vqvae", {"restart_every": 10**13})
    with pytest.raises(genkit.InputError, match="parameters"):
        genkit.make_params("prior", "sparse_transformer", {"width": 65536, "depth": 1000, "heads": 2})
    assert genkit.make_params("prior", "sparse_transformer", {"depth": 4.0}).depth == 4  # an integral float is fine


# -- folder datasets: captions.jsonl may not name files outside the dataset directory ---------------------------
def _dataset(root: Path, files: list[str]):
    from PIL import Image

    import genkit

    root.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (255, 0, 0)).save(root / "inside.png")
    lines = [{"file": "inside.png", "caption": "a red square"}] + [{"file": f, "caption": "x"} for f in files]
    (root / "captions.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    params = genkit.make_params("dataset", "folder", {"path": str(root), "size": 16})
    return genkit.build_component("dataset", params)


@pytest.mark.parametrize(
    "file", ["../outside.png", "sub/../../outside.png", "ABSOLUTE", "link_out.png", "link_dir/x.png"]
)
def test_caption_file_outside_the_directory_is_refused_naming_the_line(file, tmp_path):
    import genkit

    (tmp_path / "outside.png").write_bytes(b"secret")
    (tmp_path / "elsewhere").mkdir()
    root = tmp_path / "ds"
    root.mkdir()
    os.symlink(tmp_path / "outside.png", root / "link_out.png")
    os.symlink(tmp_path / "elsewhere", root / "link_dir")
    name = str(tmp_path / "outside.png") if file == "ABSOLUTE" else file
    dataset = _dataset(root, ["inside.png", name])
    with pytest.raises(genkit.InputError) as info:
        dataset.captions("train")
    message = str(info.value)
    assert "\n" not in message
    assert f"{root / 'captions.jsonl'}:3:" in message and name in message and "outside" in message


def test_caption_files_inside_the_directory_are_kept(tmp_path):
    root = tmp_path / "ds"
    (root / "sub").mkdir(parents=True)
    os.symlink("inside.png", root / "alias.png")  # a link that stays inside
    dataset = _dataset(root, ["sub/../inside.png", "./inside.png", "alias.png", "sub/missing.png"])
    assert len(dataset.captions("train")) + len(dataset.captions("validation")) == 5


def test_run_refuses_a_caption_outside_the_directory_in_one_line(tmp_path, capsys):
    root = tmp_path / "ds"
    _dataset(root, ["../../etc/passwd"])
    recipe = edited(
        {
            "data": {"kind": "folder", "path": str(root), "size": 16},
            "prior": DELETE,
            "reranker": DELETE,
            "tokenizer": DELETE,
            "stages.prior": DELETE,
            "stages.reranker": DELETE,
            "stages.sample": DELETE,
        }
    )
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    result = run_cli(["run", path, "--out", out], capsys)
    assert_one_line_error(result, 2, f"{root / 'captions.jsonl'}:2:", "../../etc/passwd")
    assert not list(out.glob("autoencoder/*.pt")) and not (out / "export").exists()

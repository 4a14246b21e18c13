"""genkit ablate: variants run, identical stages are reused, a table (md + csv) and a chart are written."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
import yaml

from genkit.ablate import parse_vary, run_ablation, variant_name
from genkit.errors import InputError

_spec = importlib.util.spec_from_file_location("tiny", Path(__file__).with_name("tiny.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


def test_parse_vary_keeps_bracketed_values_together():
    assert parse_vary(["prior.attention=[row,column],paper", "autoencoder=dvae,vqvae"]) == [
        [["prior.attention=[row,column]"], ["prior.attention=paper"]],
        [["autoencoder=dvae"], ["autoencoder=vqvae"]],
    ]


def test_keys_joined_by_semicolons_vary_together():
    assert parse_vary(["prior={kind: a, d: [1,2]},{kind: b}; stages.prior.steps=800,400"]) == [
        [["prior={kind: a, d: [1,2]}", "stages.prior.steps=800"], ["prior={kind: b}", "stages.prior.steps=400"]]
    ]
    with pytest.raises(InputError, match=r"as many values each \(prior.depth: 2, stages.prior.steps: 3\)"):
        parse_vary(["prior.depth=2,4; stages.prior.steps=8,4,2"])
    assert variant_name(["autoencoder=vqvae", "prior.depth=2"]) == "autoencoder-vqvae__prior.depth-2"
    assert variant_name(["autoencoder={kind: vqvae, hidden: 32}"]) == "autoencoder-vqvae"


def test_ablation_reuses_identical_stages_and_writes_the_table(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(tiny.TINY_RECIPE))
    lines: list[str] = []
    rows = run_ablation(
        str(recipe),
        ["prior.depth=1,2"],
        tmp_path / "ablate",
        eval_captions=4,
        eval_candidates=2,
        eval_seeds=2,
        log=lines.append,
    )
    assert [r["variant"] for r in rows] == ["prior.depth=1", "prior.depth=2"]
    per_seed = [line for line in lines if "seeds [0, 1]: faithfulness=" in line]
    assert len(per_seed) == 2, lines  # each variant judged with sampling seeds 0 and 1, both logged
    reused = [line for line in lines if "reusing stage" in line]
    # the second variant differs only in the prior: autoencoder and tokenizer come from the first run
    assert any("reusing stage autoencoder" in line for line in reused)
    assert any("reusing stage tokenizer" in line for line in reused)
    assert any("reusing stage reranker" in line for line in reused)
    assert not any("reusing stage prior" in line for line in reused)
    first = tmp_path / "ablate" / "prior.depth-1" / "export" / "autoencoder" / "model.safetensors"
    second = tmp_path / "ablate" / "prior.depth-2" / "export" / "autoencoder" / "model.safetensors"
    assert first.read_bytes() == second.read_bytes()
    with open(tmp_path / "ablate" / "ablation.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [row["variant"] for row in table] == ["prior.depth=1", "prior.depth=2"]
    for row in table:
        assert 0.0 <= float(row["faithfulness"]) <= 1.0 and float(row["val_bits_per_image_token"]) > 0
    markdown = (tmp_path / "ablate" / "ablation.md").read_text()
    assert markdown.startswith("| variant | faithfulness |") and markdown.count("\n") == 4
    assert (tmp_path / "ablate" / "ablation.png").stat().st_size > 1000


def test_a_reranker_with_hard_negatives_is_not_reused_across_autoencoders():
    from genkit.ablate import stage_keys
    from genkit.recipe import load_recipe

    def reranker_key(*overrides: str) -> str:
        return stage_keys(load_recipe("shapes/demo", list(overrides)))["reranker"]

    plain = "stages.reranker.hard_negatives=0"
    assert reranker_key(plain, "autoencoder=dvae") == reranker_key(plain, "autoencoder=vqvae")  # no autoencoder read
    hard = "stages.reranker.hard_negatives=1"
    assert reranker_key(hard, "autoencoder=dvae") != reranker_key(hard, "autoencoder=vqvae")
    assert reranker_key(hard, "autoencoder.hidden=32") == reranker_key(hard, "autoencoder.hidden=32")

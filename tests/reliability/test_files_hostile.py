"""Hostile files and the remaining commands' options: damaged exports and checkpoints, odd images and recipe
files, eval / ablate / cp / data options. Each refused case: its exit code, one line naming the place, no
traceback, and the run directory's files unchanged (by hash)."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from harness import assert_one_line_error, run_cli, sample_one, tree_hashes
from PIL import Image


def _replace(path: Path, data: bytes) -> None:
    path.write_bytes(data)


class _Evil:
    """Unpickling this would create a file (what a crafted checkpoint does)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


# (id, how to damage the run, extra arguments, exit code, names in the one line)
EXPORT_CASES = [
    (
        "config-not-json",
        lambda run: _replace(run / "export" / "prior" / "config.json", b"{oops"),
        2,
        ["config.json", "not valid JSON"],
    ),
    (
        "config-missing",
        lambda run: (run / "export" / "prior" / "config.json").unlink(),
        2,
        ["config.json", "no such file"],
    ),
    (
        "weights-truncated",
        lambda run: _replace(
            run / "export" / "prior" / "model.safetensors",
            (run / "export" / "prior" / "model.safetensors").read_bytes()[:200],
        ),
        2,
        ["model.safetensors"],
    ),
    (
        "weights-missing",
        lambda run: (run / "export" / "autoencoder" / "model.safetensors").unlink(),
        2,
        ["model.safetensors", "no such file"],
    ),
    ("index-missing", lambda run: (run / "export" / "model_index.json").unlink(), 2, ["model_index.json"]),
    ("index-garbage", lambda run: _replace(run / "export" / "model_index.json", b"\x00\xff"), 2, ["model_index.json"]),
    (
        "unknown-kind",
        lambda run: _replace(
            run / "export" / "prior" / "config.json",
            json.dumps({**json.loads((run / "export" / "prior" / "config.json").read_text()), "kind": "nope"}).encode(),
        ),
        2,
        ["config.json", "'nope'"],
    ),
    (
        "param-out-of-range",
        lambda run: _replace(
            run / "export" / "prior" / "config.json",
            json.dumps(
                {**json.loads((run / "export" / "prior" / "config.json").read_text()), "params": {"depth": -3}}
            ).encode(),
        ),
        2,
        ["config.json", "depth"],
    ),
    (
        "weights-wrong-shape",
        lambda run: shutil.copy(
            run / "export" / "reranker" / "model.safetensors", run / "export" / "prior" / "model.safetensors"
        ),
        2,
        ["prior", "model.safetensors"],
    ),
    ("export-role-missing", lambda run: shutil.rmtree(run / "export" / "tokenizer"), 2, ["tokenizer"]),
    (
        "recipe-not-yaml",
        lambda run: _replace(run / "recipe.resolved.yaml", b"\xff\xfe: [unclosed"),
        2,
        ["recipe.resolved.yaml"],
    ),
]


@pytest.mark.parametrize("case,damage,code,names", EXPORT_CASES, ids=[c[0] for c in EXPORT_CASES])
def test_a_damaged_export_is_one_line_for_sample_and_eval(tiny_run, tmp_path, capsys, case, damage, code, names):
    damage(tiny_run)
    before = tree_hashes(tiny_run)
    result = sample_one(tiny_run, tmp_path / "s.png", capsys)
    assert_one_line_error(result, code, *names)
    result = run_cli(["eval", tiny_run, "--captions", "2", "--candidates", "2"], capsys)
    assert result.code != 0 and "Traceback" not in result.err
    assert len([line for line in result.err.splitlines() if line.strip()]) == 1, result.err
    assert tree_hashes(tiny_run) == before


CHECKPOINT_CASES = [
    ("meta-not-json", lambda c: _replace(c / "meta.json", b"{"), ["meta.json"]),
    (
        "state-truncated",
        lambda c: _replace(c / "state.pt", (c / "state.pt").read_bytes()[:64]),
        ["truncated or corrupt checkpoint"],
    ),
    ("extra-missing", lambda c: (c / "extra_0.pt").unlink(), ["truncated or corrupt checkpoint"]),
    ("state-is-text", lambda c: _replace(c / "state.pt", b"hello"), ["truncated or corrupt checkpoint"]),
]


@pytest.mark.parametrize("case,damage,names", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_the_only_checkpoint_damaged_is_one_line_and_untouched(tiny_run, tiny_recipe, capsys, case, damage, names):
    checkpoints = tiny_run / "prior" / "checkpoints"
    steps = sorted(checkpoints.iterdir())
    for older in steps[:-1]:
        shutil.rmtree(older)
    (tiny_run / "prior" / "final.json").unlink()  # the stage must resume: it is not finished
    damage(steps[-1])
    before = tree_hashes(tiny_run)
    result = run_cli(["run", tiny_recipe, "--out", tiny_run, "--stage", "prior"], capsys)
    assert_one_line_error(result, 2, str(steps[-1].name), *names)
    assert "weights_only" not in result.err
    assert tree_hashes(tiny_run) == {
        **before,
        **{k: v for k, v in tree_hashes(tiny_run).items() if k == "recipe.resolved.yaml"},
    }


def test_a_crafted_checkpoint_is_never_unpickled(tiny_run, tiny_recipe, tmp_path, capsys):
    checkpoints = tiny_run / "prior" / "checkpoints"
    for older in sorted(checkpoints.iterdir())[:-1]:
        shutil.rmtree(older)
    (tiny_run / "prior" / "final.json").unlink()
    target = tmp_path / "pwned"
    newest = sorted(checkpoints.iterdir())[-1]
    (newest / "state.pt").write_bytes(pickle.dumps(_Evil(str(target))))
    result = run_cli(["run", tiny_recipe, "--out", tiny_run, "--stage", "prior"], capsys)
    assert_one_line_error(result, 2, "state.pt" if "state.pt" in result.err else newest.name)
    assert not target.exists()


def _strip_png(path: Path) -> None:
    Image.fromarray(np.zeros((1, 3_000_000, 3), np.uint8)).save(path)


def test_a_one_pixel_high_strip_does_not_blow_up_memory(tiny_run, tmp_path, capsys):
    strip = tmp_path / "strip.png"
    _strip_png(strip)
    result = sample_one(tiny_run, tmp_path / "s.png", capsys, "--prime", strip, "--rows", "1")
    assert result.code == 0, result.err


COMMAND_CASES = [
    ("eval-not-a-run", lambda run, tmp: ["eval", tmp], 2, ["not a genkit export"]),
    ("eval-captions-0", lambda run, tmp: ["eval", run, "--captions", "0"], 2, ["--captions"]),
    ("eval-candidates-negative", lambda run, tmp: ["eval", run, "--candidates", "-2"], 2, ["--candidates"]),
    ("cp-unknown", lambda run, tmp: ["cp", "nope/nothing", tmp / "x.yaml"], 2, ["nope/nothing"]),
    (
        "cp-over-existing",
        lambda run, tmp: ["cp", "shapes/demo", run / "recipe.resolved.yaml"],
        2,
        ["recipe.resolved.yaml", "--force"],
    ),
    ("run-recipe-is-a-directory", lambda run, tmp: ["run", tmp, "--out", run], 2, ["{tmp}"]),
    ("run-recipe-binary", lambda run, tmp: ["run", _binary(tmp), "--out", run], 2, ["binary.yaml"]),
    (
        "run-stage-not-configured",
        lambda run, tmp: ["run", _autoencoder_only(tmp), "--out", run, "--stage", "prior"],
        2,
        ["stages.prior"],
    ),
    (
        "ablate-unknown-key",
        lambda run, tmp: ["ablate", "shapes/demo", "--vary", "prior.detph=2,3", "--out", tmp / "ab"],
        2,
        ["prior.detph"],
    ),
    (
        "ablate-steps-scale-0",
        lambda run, tmp: [
            "ablate",
            "shapes/demo",
            "--vary",
            "prior.depth=2,3",
            "--steps-scale",
            "0",
            "--out",
            tmp / "ab",
        ],
        2,
        ["--steps-scale"],
    ),
    (
        "ablate-steps-scale-nan",
        lambda run, tmp: [
            "ablate",
            "shapes/demo",
            "--vary",
            "prior.depth=2,3",
            "--steps-scale",
            "nan",
            "--out",
            tmp / "ab",
        ],
        2,
        ["--steps-scale"],
    ),
    ("data-pack-missing-source", lambda run, tmp: ["data", "pack", tmp / "nothing", tmp / "out"], 2, ["nothing"]),
    (
        "data-inspect-no-match",
        lambda run, tmp: ["data", "inspect", str(tmp / "none-*.tar"), "--out", tmp / "c.png"],
        2,
        ["none-*.tar"],
    ),
    ("data-verify-no-match", lambda run, tmp: ["data", "verify", str(tmp / "{00000..00003}.tar")], 2, ["00000.tar"]),
    ("data-pack-into-the-run", lambda run, tmp: ["data", "pack", _folder(tmp), run], 2, ["{run}"]),
    ("describe-unknown-kind", lambda run, tmp: ["describe", "prior", "nope"], 2, ["nope"]),
    (
        "validate-unknown-override",
        lambda run, tmp: ["validate", run / "recipe.resolved.yaml", "prior.detph=3"],
        2,
        ["prior.detph"],
    ),
]


def _binary(tmp: Path) -> Path:
    path = tmp / "binary.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _autoencoder_only(tmp: Path) -> Path:
    path = tmp / "ae.yaml"
    path.write_text(
        "data: {kind: shapes, size: 16, count: 64}\nautoencoder: {kind: vqvae, hidden: 16}\n"
        "stages: {autoencoder: {steps: 1}}\n"
    )
    return path


def _folder(tmp: Path) -> Path:
    folder = tmp / "pics"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "a.png")
    (folder / "captions.jsonl").write_text('{"file": "a.png", "caption": "a"}\n')
    return folder


@pytest.mark.parametrize("case,args,code,names", COMMAND_CASES, ids=[c[0] for c in COMMAND_CASES])
def test_bad_command_options_are_one_line(tiny_run, tmp_path, capsys, case, args, code, names):
    before = tree_hashes(tiny_run)
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli(args(tiny_run, work), capsys)
    assert_one_line_error(result, code, *[n.format(run=tiny_run, tmp=work) for n in names])
    assert tree_hashes(tiny_run) == before

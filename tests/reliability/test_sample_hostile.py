"""Hostile input to `genkit sample` and to the Python sampling API: nothing lost, nothing silent.

Every refused case is one line on stderr naming the option, path or prompt, exit 2, no traceback, and no file
changed anywhere under the test's folder (the tiny run included), by hash. Outputs are never written inside an
export or a checkpoints folder, never over a file that `genkit sample` did not write (unless --force), and a
re-run onto a previous output of `genkit sample` needs no --force.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from harness import assert_one_line_error, run_cli, tree_hashes
from PIL import Image

import genkit

PROMPT = "a red circle"


def foreign_png(path):
    """A PNG that `genkit sample` did not write (a user's photo)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), "blue").save(path)


def write_text(path, text="my notes\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def setup_stages_sample(**values):
    def setup(run, tmp):
        path = run / "recipe.resolved.yaml"
        import yaml

        data = yaml.safe_load(path.read_text())
        data["stages"]["sample"].update(values)
        path.write_text(yaml.safe_dump(data))

    return setup


# (id, setup(run, tmp) or None, args after `sample RUN` ({run}/{tmp}/{prime} are filled in), exit, names in the line)
REFUSED = [
    # -- output paths ------------------------------------------------------------------------------------------
    (
        "out-over-exported-weights",
        None,
        [PROMPT, "--out", "{run}/export/prior/model.safetensors"],
        2,
        ["--out", "model.safetensors", "export"],
    ),
    (
        "out-over-exported-weights-force",
        None,
        [PROMPT, "--out", "{run}/export/prior/model.safetensors", "--force"],
        2,
        ["--out", "model.safetensors", "export"],
    ),
    (
        "out-new-png-inside-export",
        None,
        [PROMPT, "--out", "{run}/export/prior/preview.png"],
        2,
        ["preview.png", "export"],
    ),
    (
        "out-inside-checkpoints",
        None,
        [PROMPT, "--out", "{run}/prior/checkpoints/step_00000004/s.png"],
        2,
        ["s.png", "checkpoints"],
    ),
    ("out-images-folder-is-the-export", None, [PROMPT, "--out", "{run}/export.png"], 2, ["export"]),
    (
        "out-images-folder-is-checkpoints",
        None,
        [PROMPT, "--out", "{run}/prior/checkpoints.png", "--force"],
        2,
        ["checkpoints"],
    ),
    (
        "out-symlink-to-weights",
        lambda run, tmp: os.symlink(run / "export/prior/model.safetensors", tmp / "link.png"),
        [PROMPT, "--out", "{tmp}/link.png", "--force"],
        2,
        ["link.png", "export"],
    ),
    ("out-not-png", None, [PROMPT, "--out", "{tmp}/grid.jpg"], 2, ["--out", "grid.jpg", ".png"]),
    ("out-no-suffix", None, [PROMPT, "--out", "{tmp}/grid"], 2, ["--out", ".png"]),
    ("out-is-the-run-directory", None, [PROMPT, "--out", "{run}"], 2, ["--out", "directory"]),
    (
        "out-is-a-directory-named-png",
        lambda run, tmp: (tmp / "d.png").mkdir(),
        [PROMPT, "--out", "{tmp}/d.png"],
        2,
        ["d.png", "directory"],
    ),
    (
        "out-over-a-foreign-png",
        lambda run, tmp: foreign_png(tmp / "photo.png"),
        [PROMPT, "--out", "{tmp}/photo.png"],
        2,
        ["photo.png", "--force"],
    ),
    (
        "out-over-a-text-file",
        lambda run, tmp: write_text(tmp / "notes.png"),
        [PROMPT, "--out", "{tmp}/notes.png"],
        2,
        ["notes.png", "--force"],
    ),
    (
        "out-json-over-a-foreign-json",
        lambda run, tmp: write_text(tmp / "g.json", '{"mine": 1}'),
        [PROMPT, "--out", "{tmp}/g.png"],
        2,
        ["g.json", "--force"],
    ),
    (
        "out-image-over-a-foreign-png",
        lambda run, tmp: foreign_png(tmp / "g" / "00_a-red-circle_0.png"),
        [PROMPT, "--out", "{tmp}/g.png"],
        2,
        ["00_a-red-circle_0.png", "--force"],
    ),
    (
        "out-images-folder-is-a-file",
        lambda run, tmp: write_text(tmp / "g"),
        [PROMPT, "--out", "{tmp}/g.png", "--force"],
        2,
        ["g", "not a directory"],
    ),
    (
        "out-parent-is-a-file",
        None,
        [PROMPT, "--out", "{run}/recipe.resolved.yaml/s.png"],
        2,
        ["recipe.resolved.yaml", "not a directory"],
    ),
    # -- sampling options --------------------------------------------------------------------------------------
    ("candidates-0-keep-0", None, [PROMPT, "--candidates", "0", "--keep", "0"], 2, ["--candidates 0"]),
    ("candidates-negative", None, [PROMPT, "--candidates", "-3", "--keep", "1"], 2, ["--candidates -3"]),
    ("candidates-absurd", None, [PROMPT, "--candidates", "1000000000", "--keep", "1"], 2, ["--candidates"]),
    ("keep-0", None, [PROMPT, "--candidates", "2", "--keep", "0"], 2, ["--keep 0"]),
    ("keep-negative", None, [PROMPT, "--candidates", "2", "--keep", "-1"], 2, ["--keep -1"]),
    ("keep-over-candidates", None, [PROMPT, "--candidates", "2", "--keep", "5"], 2, ["--keep 5", "--candidates 2"]),
    ("temperature-nan", None, [PROMPT, "--temperature", "nan"], 2, ["--temperature nan"]),
    ("temperature-inf", None, [PROMPT, "--temperature", "inf"], 2, ["--temperature inf"]),
    ("temperature-0", None, [PROMPT, "--temperature", "0"], 2, ["--temperature 0"]),
    ("temperature-negative", None, [PROMPT, "--temperature", "-1"], 2, ["--temperature -1"]),
    ("top-p-0", None, [PROMPT, "--top-p", "0"], 2, ["--top-p 0"]),
    ("top-p-over-1", None, [PROMPT, "--top-p", "1.5"], 2, ["--top-p 1.5"]),
    ("top-p-nan", None, [PROMPT, "--top-p", "nan"], 2, ["--top-p nan"]),
    ("top-k-0", None, [PROMPT, "--top-k", "0"], 2, ["--top-k 0"]),
    ("top-k-negative", None, [PROMPT, "--top-k", "-5"], 2, ["--top-k -5"]),
    ("guidance-negative", None, [PROMPT, "--guidance", "-1"], 2, ["--guidance -1"]),
    ("guidance-nan", None, [PROMPT, "--guidance", "nan"], 2, ["--guidance nan"]),
    ("seed-negative", None, [PROMPT, "--seed", "-1"], 2, ["--seed -1"]),
    ("rows-0", None, [PROMPT, "--prime", "{prime}", "--rows", "0"], 2, ["--rows 0"]),
    ("rows-negative", None, [PROMPT, "--prime", "{prime}", "--rows", "-1"], 2, ["--rows -1"]),
    ("rows-whole-grid", None, [PROMPT, "--prime", "{prime}", "--rows", "4"], 2, ["--rows 4", "between 1 and 3"]),
    ("rows-without-prime", None, [PROMPT, "--rows", "2"], 2, ["--rows", "--prime"]),
    ("prime-is-a-directory", None, [PROMPT, "--prime", "{run}"], 2, ["run"]),
    (
        "bad-candidates-in-the-runs-recipe",
        setup_stages_sample(candidates=0),
        [PROMPT],
        2,
        ["recipe.resolved.yaml", "stages.sample.candidates"],
    ),
    (
        "runs-recipe-not-yaml",
        lambda run, tmp: write_text(run / "recipe.resolved.yaml", "stages: [\n"),
        [PROMPT],
        2,
        ["recipe.resolved.yaml"],
    ),
    # -- prompts -----------------------------------------------------------------------------------------------
    ("prompt-empty", None, ["", "--candidates", "2", "--keep", "1"], 2, ["prompt 1", "empty"]),
    ("prompt-whitespace-second", None, [PROMPT, "  \t ", "--candidates", "2", "--keep", "1"], 2, ["prompt 2", "empty"]),
    ("prompt-10000-characters", None, ["x" * 10000, "--candidates", "2", "--keep", "1"], 2, ["prompt 1", "1000"]),
]


def fill(args, run, tmp):
    prime = tmp / "prime.png"
    return [a.format(run=run, tmp=tmp, prime=prime) for a in args]


@pytest.fixture
def prime_png(tmp_path):
    path = tmp_path / "prime.png"
    Image.new("RGB", (16, 16), "red").save(path)
    return path


@pytest.mark.parametrize("setup, args, code, names", [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED])
def test_refused_and_nothing_changes(tiny_run, tmp_path, prime_png, capsys, setup, args, code, names):
    if setup is not None:
        setup(tiny_run, tmp_path)
    before = tree_hashes(tmp_path)
    result = run_cli(["sample", tiny_run, *fill(args, tiny_run, tmp_path), "--no-progress"], capsys)
    assert_one_line_error(result, code, *names)
    assert tree_hashes(tmp_path) == before


# -- legitimate use still works -------------------------------------------------------------------------------------
def sample(capsys, run, out, *extra):
    return run_cli(
        ["sample", run, PROMPT, "--candidates", "2", "--keep", "1", "--out", out, "--no-progress", *extra], capsys
    )


def without_seconds(path):
    data = json.loads(path.read_text())
    del data["settings"]["seconds"]
    return data


def test_rerunning_onto_its_own_output_needs_no_force_and_is_reproducible(tiny_run, tmp_path, capsys):
    out = tmp_path / "out" / "s.png"
    assert sample(capsys, tiny_run, out).code == 0
    first, scores = tree_hashes(tmp_path / "out"), without_seconds(tmp_path / "out" / "s.json")
    assert sorted(first) == ["s.json", "s.png", "s/00_a-red-circle_0.png"]
    result = sample(capsys, tiny_run, out)
    assert result.code == 0, result.err
    again = tree_hashes(tmp_path / "out")
    assert {k: v for k, v in again.items() if k != "s.json"} == {k: v for k, v in first.items() if k != "s.json"}
    assert without_seconds(tmp_path / "out" / "s.json") == scores
    # the run's own sample stage output is a previous output of sample too
    result = sample(capsys, tiny_run, tiny_run / "sample" / "samples.png")
    assert result.code == 0, result.err


def test_output_written_before_the_marker_is_recognised_by_its_scores_json(tiny_run, tmp_path, capsys):
    out = tmp_path / "s.png"
    assert sample(capsys, tiny_run, out).code == 0
    for path in (out, tmp_path / "s" / "00_a-red-circle_0.png"):  # strip the PNG marker (an older genkit's output)
        Image.open(path).convert("RGB").save(path)
        assert "Software" not in Image.open(path).info
    result = sample(capsys, tiny_run, out)
    assert result.code == 0, result.err
    assert Image.open(out).info.get("Software") == "genkit sample"


def test_force_overwrites_a_foreign_file_but_never_an_export(tiny_run, tmp_path, capsys):
    foreign_png(tmp_path / "photo.png")
    write_text(tmp_path / "photo.json", "{}")
    result = sample(capsys, tiny_run, tmp_path / "photo.png", "--force")
    assert result.code == 0, result.err
    assert Image.open(tmp_path / "photo.png").info.get("Software") == "genkit sample"
    assert json.loads((tmp_path / "photo.json").read_text())["grid"] == "photo.png"


def test_keep_from_the_defaults_is_clamped_to_candidates_with_a_note(tiny_run, tmp_path, capsys):
    # the tiny run's stages.sample says keep 1; the built-in default is 4: give --candidates 2 on a run without one
    (tiny_run / "recipe.resolved.yaml").unlink()
    result = run_cli(
        ["sample", tiny_run, PROMPT, "--candidates", "2", "--out", tmp_path / "k.png", "--no-progress"], capsys
    )
    assert result.code == 0, result.err
    assert "--keep 4" in result.err and "keeping 2" in result.err and len(result.err.strip().splitlines()) == 1
    assert json.loads((tmp_path / "k.json").read_text())["settings"]["keep"] == 2


def test_a_prompt_longer_than_the_tokenizer_is_drawn_with_a_one_line_warning(tiny_run, tmp_path, capsys):
    result = run_cli(
        [
            "sample",
            tiny_run,
            PROMPT,
            "a big blue square at the top left of the image",
            "--candidates",
            "2",
            "--keep",
            "1",
            "--out",
            tmp_path / "w.png",
            "--no-progress",
        ],
        capsys,
    )
    assert result.code == 0, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "prompt 2" in lines[0] and "12 tokens" in lines[0], result.err


# -- the Python API is protected too --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pipeline(tiny_run_master):
    from genkit.sample import Pipeline

    return Pipeline.from_run(tiny_run_master)


API_REFUSED = [
    ("candidates-0", {"candidates": 0, "keep": 0}, "candidates"),
    ("keep-0", {"keep": 0}, "keep"),
    ("keep-over-candidates", {"candidates": 2, "keep": 3}, "keep"),
    ("temperature-nan", {"temperature": float("nan")}, "temperature"),
    ("temperature-0", {"temperature": 0.0}, "temperature"),
    ("top-p-2", {"top_p": 2.0}, "top_p"),
    ("top-k-0", {"top_k": 0}, "top_k"),
    ("top-k-float", {"top_k": 2.5}, "top_k"),
    ("guidance-inf", {"guidance": float("inf")}, "guidance"),
    ("seed-float", {"seed": 1.5}, "seed"),
    ("prime-rows-without-image", {"prime_rows": 2}, "prime_rows"),
    ("prime-rows-whole-grid", {"prime_image": torch.rand(3, 16, 16), "prime_rows": 4}, "prime_rows"),
    ("prompts-one-string", {"prompts": "a red circle"}, "prompts"),
    ("prompts-empty-list", {"prompts": []}, "prompts"),
    ("prompt-empty", {"prompts": ["a red circle", ""]}, "prompts[1]"),
    ("prompt-not-a-string", {"prompts": [3]}, "prompts[0]"),
    ("prompt-too-long", {"prompts": ["y" * 1001]}, "prompts[0]"),
]


@pytest.mark.parametrize("kwargs, name", [row[1:] for row in API_REFUSED], ids=[row[0] for row in API_REFUSED])
def test_pipeline_sample_names_the_bad_argument(pipeline, kwargs, name):
    call = {"prompts": [PROMPT], "candidates": 2, "keep": 1, **kwargs}
    with pytest.raises(genkit.InputError) as error:
        pipeline.sample(call.pop("prompts"), **call)
    assert name in str(error.value) and len(str(error.value).splitlines()) == 1


def test_write_samples_refuses_an_export_and_a_foreign_file(tiny_run, tmp_path):
    from genkit.sample import Pipeline, write_samples

    results = Pipeline.from_run(tiny_run).sample([PROMPT], candidates=2, keep=1)
    before = tree_hashes(tmp_path)
    with pytest.raises(genkit.InputError, match="export"):
        write_samples(results, tiny_run / "export" / "prior" / "grid.png", {})
    foreign_png(tmp_path / "photo.png")
    before = tree_hashes(tmp_path)
    with pytest.raises(genkit.InputError, match="photo.png"):
        write_samples(results, tmp_path / "photo.png", {})
    assert tree_hashes(tmp_path) == before
    write_samples(results, tmp_path / "photo.png", {}, force=True)
    assert Image.open(tmp_path / "photo.png").info.get("Software") == "genkit sample"

"""Hostile use of the command line outside `genkit sample`: stdout closed early (a real pipe) and
`genkit validate --params` asked to size absurd models. One line, no traceback, a bounded answer."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import subprocess
import sys

import pytest
from harness import assert_one_line_error, run_cli, tree_hashes

SIGPIPE_EXIT = 141  # what a shell reports for a command killed by SIGPIPE (`yes | head -1`)


def genkit_process(*args):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}  # as a user's shell
    return subprocess.Popen(
        [sys.executable, "-m", "genkit.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


# (id, command, lines read before stdout is closed): 0 = `genkit ... | true` (the reader is gone before the first
# line); 1 = `genkit schema | head -1` with a one-page pipe, so the rest is written after the reader has gone.
BROKEN_PIPES = [
    ("describe-reader-gone", ["describe", "prior", "sparse_transformer"], 0),
    ("schema-head-1", ["schema"], 1),
]


@pytest.fixture(scope="module")
def broken_pipes():
    """Every BROKEN_PIPES command run at once (each start costs seconds): ``{id: (exit, stderr, lines read)}``."""
    processes = {}
    for name, args, lines in BROKEN_PIPES:
        process = processes[name] = genkit_process(*args)
        if lines:
            fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
        else:
            process.stdout.close()
    results = {}
    for name, _args, lines in BROKEN_PIPES:
        process = processes[name]
        read = [process.stdout.readline() for _ in range(lines)]
        if lines:
            process.stdout.close()
        err = process.stderr.read().decode()
        results[name] = (process.wait(timeout=120), err, read)
    return results


@pytest.mark.parametrize("name", [row[0] for row in BROKEN_PIPES])
def test_stdout_closed_early_is_quiet(broken_pipes, name):
    code, err, read = broken_pipes[name]
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err
    assert err == "" and code == SIGPIPE_EXIT, (code, err)
    if read:
        assert read == [b"{\n"]


class ClosedStdout:
    """A stdout whose reader has gone: every write and flush raises BrokenPipeError (no file descriptor)."""

    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(
    "args",
    [
        ["describe", "prior", "sparse_transformer"],
        ["describe", "prior", "sparse_transformer", "--json"],
        ["ls"],
        ["plugins"],
        ["schema"],
        ["docs"],
        ["--help"],
        ["describe", "--help"],
        ["--version"],
    ],
    ids=" ".join,
)
def test_every_command_with_stdout_closed_exits_141_quietly(monkeypatch, capsys, args):
    from genkit.cli import main

    monkeypatch.setattr(sys, "stdout", ClosedStdout())
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's --help and --version exit
        code = exc.code
    assert code == SIGPIPE_EXIT
    assert capsys.readouterr().err == ""


# -- genkit validate --params ---------------------------------------------------------------------------------------
# (id, overrides, exit, names in the one line). The recipe's own bounds may refuse these first (then validate says
# so in one line); what gets through is sized on the meta device, within genkit.sizing's bounds.
VALIDATE_REFUSED = [
    ("width-ten-million", ["prior.width=10000000"], 2, ["prior"]),
    ("width-overflows-a-tensor", ["prior.width=1000000000000"], 2, ["prior"]),
    ("width-overflows-int64", ["prior.width=100000000000000000000"], 2, ["prior"]),
    ("depth-ten-thousand", ["prior.depth=10000"], 2, ["prior"]),
    ("autoencoder-hidden-absurd", ["autoencoder.hidden=100000000"], 2, ["autoencoder"]),
]


@pytest.fixture
def quick_tensor_bound(monkeypatch):
    """The deep-model bound reached in a fraction of a second (the default, 20,000 tensors, takes seconds)."""
    import genkit.sizing

    monkeypatch.setattr(genkit.sizing, "MAX_PARAMETER_TENSORS", 500)


@pytest.mark.parametrize(
    "overrides, code, names", [row[1:] for row in VALIDATE_REFUSED], ids=[row[0] for row in VALIDATE_REFUSED]
)
def test_validate_params_refuses_absurd_sizes_in_one_line(
    tiny_recipe, capsys, quick_tensor_bound, overrides, code, names
):
    before = tree_hashes(tiny_recipe.parent)
    result = run_cli(["validate", tiny_recipe, *overrides, "--params"], capsys)
    assert_one_line_error(result, code, *names)
    assert tree_hashes(tiny_recipe.parent) == before


# What the recipe's bounds let through (or a plugin without them): params changed past validation (model_copy).
# (id, prior params, words in the one line)
SIZING_REFUSED = [
    ("width-ten-million", {"width": 10_000_000}, ["prior", "parameters", "too large to size"]),
    ("width-overflows-a-tensor", {"width": 10**12}, ["prior", "too large"]),
    ("width-overflows-int64", {"width": 10**20}, ["prior", "too large"]),
    ("depth-ten-thousand", {"depth": 10_000}, ["prior", "tensors", "too large to size"]),
]


@pytest.mark.parametrize("update, words", [row[1:] for row in SIZING_REFUSED], ids=[row[0] for row in SIZING_REFUSED])
def test_sizing_refuses_what_validation_let_through(tiny_recipe, quick_tensor_bound, update, words):
    import genkit
    from genkit.plugins.manager import get_plugins
    from genkit.recipe import load_recipe
    from genkit.sizing import memory_plan_report

    loaded = load_recipe(str(tiny_recipe), [], get_plugins())
    recipe = loaded.recipe.model_copy(update={"prior": loaded.recipe.prior.model_copy(update=update)})
    with pytest.raises(genkit.InputError) as error:
        memory_plan_report(dataclasses.replace(loaded, recipe=recipe))
    message = str(error.value)
    assert len(message.splitlines()) == 1 and message.startswith(str(tiny_recipe)), message
    for word in words:
        assert word in message, message


def test_validate_params_of_a_big_but_sane_prior_prints_a_readable_table(tiny_recipe, capsys):
    result = run_cli(["validate", tiny_recipe, "prior.width=100000", "prior.heads=4", "--params"], capsys)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1].startswith("parameters: ")
    table = [line for line in lines if line.startswith("  total")]
    for line in table:  # three numbers (1, 8 and 64 GPUs), never run together
        assert all(float(number) >= 0 for number in line.split()[-3:]), result.out


def test_describe_an_unknown_kind_is_one_line(capsys):
    assert_one_line_error(run_cli(["describe", "prior", "nope"], capsys), 2, "nope")

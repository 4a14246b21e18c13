"""benchmarks/gpu_check.py's code paths on the CPU (--cpu-smoke, tiny sizes): every section prints its JSON line
without an error; without a GPU and without --cpu-smoke it says so and exits 2. The FSDP2 section spawns two gloo
ranks (FSDP2 with activation checkpointing in bf16): slow."""

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    """The script as the module ``gpu_check`` (importable by name: the FSDP2 section's spawned ranks import it)."""
    sys.path.insert(0, str(SCRIPT.parent))
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in the source tree
    try:
        yield importlib.import_module("gpu_check")
    finally:
        sys.dont_write_bytecode = before
        sys.path.remove(str(SCRIPT.parent))


def rows(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_without_a_gpu_it_says_so(gpu_check, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert gpu_check.main([]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_every_section_runs_on_the_cpu(gpu_check, capsys):
    sections = ["libraries", "attention", "mfu", "fp16_per_resblock", "sampling"]
    assert gpu_check.main(["--cpu-smoke", "--only", *sections]) == 0
    printed = rows(capsys)
    assert {row["section"] for row in printed} == set(sections)
    errors = [row for row in printed if "error" in row and row.get("backend") != "xformers"]  # xformers: CUDA only
    assert errors == []
    attention = [row for row in printed if row["section"] == "attention" and "max_error_vs_reference" in row]
    assert {row["layer"] for row in attention} == {"row", "column", "conv", "full"}
    assert all(row["max_error_vs_reference"] < 2e-2 for row in attention)  # bf16 against float64
    fp16 = next(row for row in printed if row["section"] == "fp16_per_resblock")
    assert fp16["non_finite_steps"] == 0 and fp16["goal_met"]
    mfu = next(row for row in printed if row["section"] == "mfu")
    assert mfu["tokens_per_s"] > 0 and mfu["mfu"] is None  # no GPU peak to divide by


@pytest.mark.slow
@pytest.mark.distributed
def test_the_fsdp_section_runs_on_two_gloo_ranks(gpu_check, capsys):
    assert gpu_check.main(["--cpu-smoke", "--only", "fsdp"]) == 0
    (row,) = rows(capsys)
    assert row["ranks"] == 2 and row["samples_per_s"] > 0 and "error" not in row

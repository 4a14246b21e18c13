"""tune_cpu_allocator: freed tensors stay in the process, so allocating them again faults no pages (glibc)."""

import os
import subprocess
import sys
import textwrap

import pytest

import genkit

# Allocates and fills a 40 MB tensor 12 times (a training step's logits or activations: glibc's default always
# maps blocks this big afresh) and prints the fewest minor page faults of one allocation after the first 2 (the
# steady state; the machine may be shared), and the pages the tensor spans.
FAULTS = textwrap.dedent("""
    import resource, sys
    import torch, genkit
    applied = genkit.tune_cpu_allocator() if sys.argv[1] == "tuned" else False
    faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    n = 10_000_000
    counts = []
    for _ in range(12):
        before = faults()
        torch.ones(n)
        counts.append(faults() - before)
    print(applied, min(counts[2:]), n * 4 // 4096)
""")


def run_faults(mode: str, **env) -> tuple[str, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", FAULTS, mode], capture_output=True, text=True, check=True, env={**os.environ, **env}
    ).stdout.split()
    return out[0], float(out[1]), int(out[2])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_allocations_fault_no_pages():
    applied, tuned, pages = run_faults("tuned")
    assert applied == "True"
    assert tuned < 0.05 * pages, f"{tuned} faults per 40 MB allocation after tuning ({pages} pages)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_environment_turns_it_off():
    applied, _, _ = run_faults("tuned", GENKIT_CPU_ALLOCATOR="default")
    assert applied == "False"


def test_the_command_line_applies_it(monkeypatch, capsys):
    from genkit import cli

    calls = []
    monkeypatch.setattr(cli, "tune_cpu_allocator", lambda: calls.append(1) or True)
    assert cli.main(["ls"]) == 0
    assert calls == [1]
    assert "tune_cpu_allocator" in genkit.__all__  # public API

"""Kept only for benchmarks/bench_engine.py, which imports ``TinyMLP`` from here: the test toys live in tests/toys.py
(``from toys import ToyMLP``). Delete this file once the benchmark imports from there."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toys import ToyMLP as TinyMLP  # noqa: E402

__all__ = ["TinyMLP"]

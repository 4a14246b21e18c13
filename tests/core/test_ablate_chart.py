"""The ablation chart's metric names never run into each other."""

from __future__ import annotations

import numpy as np
from PIL import Image

from genkit.ablate_chart import bar_chart


def label_runs(band: np.ndarray, gap: int = 5) -> int:
    """Runs of inked columns in ``band`` [rows, columns] separated by at least ``gap`` blank columns."""
    inked = np.flatnonzero((band < 250).any(axis=0))
    return 0 if inked.size == 0 else 1 + int((np.diff(inked) > gap).sum())


def test_long_metric_names_get_room_under_their_bars(tmp_path):
    metrics = ["faithfulness", "faithfulness_first", "candidates_faithful", "codebook_usage", "reranker_top1"]
    rows = [{"variant": "a", **dict.fromkeys(metrics, 0.5)}, {"variant": "b", **dict.fromkeys(metrics, 0.25)}]
    height = 260
    path = bar_chart(rows, metrics, tmp_path / "chart.png", height=height)
    grey = np.asarray(Image.open(path).convert("L"))
    band = grey[height + 4 : height + 20, 55:]  # the row of metric names under the axis
    assert label_runs(band) == len(metrics)

"""benchmarks/bench_stage1.py end to end on a small generated icon folder, a few CPU seconds per contestant: each
genkit recipe trains on its share of the budget and is measured (PSNR, SSIM, code usage), the reconstruction grid
and the results file are written. (dalle-pytorch's DiscreteVAE needs the benchmark's own venv, `make bench-stage1`;
here it is left out.)"""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_stage1.py"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        yield importlib.import_module("bench_stage1")
    finally:
        sys.path.remove(str(SCRIPT.parent))


def _icons(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for k in range(count):
        image = np.full((32, 32, 3), 255, np.uint8)
        x, y = rng.integers(0, 20, 2)
        image[y : y + 12, x : x + 12] = rng.integers(0, 255, 3)
        Image.fromarray(image).save(folder / f"{k}.png")
        rows.append({"file": f"{k}.png", "caption": f"icon {k}", "split": "validation" if k % 5 == 0 else "train"})
    (folder / "captions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_bench_trains_each_recipe_for_its_budget_and_measures_it(bench, tmp_path, capsys):
    (tmp_path / "icons" / "32px").mkdir(parents=True)
    _icons(tmp_path / "icons" / "32px", 30)
    recipes = "icons/fsq_32px,icons/fsq_32px@narrow"
    args = ["--data", str(tmp_path / "icons"), "--minutes", "0.05", "--slice", "1", "--no-baseline"]
    args += ["--recipes", recipes, "--set", "icons/fsq_32px@narrow:autoencoder.hidden=16"]
    bench.main([*args, "--out", str(tmp_path / "out")])
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r["contestant"] for r in results] == recipes.split(",")
    assert results[0]["parameters"] > results[1]["parameters"]  # the override reached the variant only
    for result in results:
        assert result["cpu_seconds"] >= 3.0 and result["steps"] >= 1
        assert 5 < result["psnr"] < 60 and 0 < result["ssim"] <= 1 and 0 < result["code_usage"] <= 1
    assert Image.open(tmp_path / "out" / "reconstructions_32px.png").size[0] > 12 * 32
    assert len((tmp_path / "out" / "results_32px.jsonl").read_text().splitlines()) == 2

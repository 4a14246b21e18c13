"""`genkit validate dalle/paper_12b --params`: the 12B prior built on the meta device, and its memory plan (states,
activations with and without checkpointing, and where the recipe fits 80 GiB)."""

import re
from pathlib import Path

import pytest
import yaml

import genkit
from genkit.recipe import validate_recipe
from genkit.sizing import memory_plan, memory_plan_report

RECIPE = Path(__file__).resolve().parents[2] / "genkit" / "recipes" / "dalle" / "paper_12b.yaml"
PAPER = genkit.BuildContext(
    image_size=256, text_vocab_size=16384, text_length=256, image_vocab_size=8192, image_grid=(32, 32)
)


def _parameters(report: str) -> int:
    first = report.splitlines()[0]
    assert first.startswith("parameters: ")
    return int(first.split(": ")[1])


def test_paper_prior_is_12b_with_a_plan_for_1_8_64_gpus():
    data = yaml.safe_load(RECIPE.read_text())
    data = {k: v for k, v in data.items() if k not in ("tokenizer", "autoencoder", "stages")}  # sized from PAPER
    report = memory_plan_report(validate_recipe(data, str(RECIPE)), context=PAPER)
    assert abs(_parameters(report) - 12e9) / 12e9 < 0.03
    assert "1 GPU" in report and "8 GPUs" in report and "64 GPUs" in report
    assert "AdamW" in report and "8-bit AdamW" in report
    assert "checkpointing every block" in report and "no checkpointing" in report
    assert re.search(r"fits 80 GiB per GPU from \d+ GPUs: micro-batch \d+, accumulate \d+", report), report


def test_the_plan_for_another_gpu_memory():
    data = yaml.safe_load(RECIPE.read_text())
    data = {k: v for k, v in data.items() if k not in ("tokenizer", "autoencoder", "stages")}
    report = memory_plan_report(validate_recipe(data, str(RECIPE)), context=PAPER, gpu_memory_gib=141)
    assert "fits 141 GiB per GPU from" in report


def test_memory_plan_arithmetic():
    one, eight = memory_plan(1000, 100, 1, "fp32"), memory_plan(1000, 100, 8)
    assert one["weights (fp32, sharded)"] == 4000 and eight["weights (fp32, sharded)"] == 500
    assert one["AdamW states (2 x fp32)"] == 8000
    assert one["8-bit AdamW states (2 x int8 + scales)"] == pytest.approx(2000 + 1000 * 8 / 256)  # absmax per 256
    assert one["total with AdamW"] == 16000 and eight["gathered blocks (current + prefetched)"] == 400  # bf16
    assert memory_plan(1000, 100, 1, "bf16")["autocast weight copies (one GPU)"] == 2000


def test_through_the_recipe_when_its_plugins_are_installed():
    registry = genkit.get_registry()
    if "bpe" not in registry.kinds("tokenizer") or "dvae" not in registry.kinds("autoencoder"):
        pytest.skip("the bpe tokenizer or dvae autoencoder plugin is not installed")
    report = memory_plan_report(genkit.load_recipe(str(RECIPE)))
    assert abs(_parameters(report) - 12e9) / 12e9 < 0.03
    assert "training (stages.prior): batch 1024, accumulate 1, precision fp16, optim adamw" in report
    fits = re.search(r"fits 80 GiB per GPU from (\d+) GPUs: micro-batch (\d+), accumulate (\d+)", report)
    assert fits, report
    gpus, micro, accumulate = (int(x) for x in fits.groups())
    assert gpus * micro * accumulate == 1024  # the recipe's batch
    assert 1 < gpus <= 64  # 12B parameters with AdamW need more than one GPU's 80 GiB

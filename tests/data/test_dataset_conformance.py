"""The dataset conformance suite (genkit.testing.DatasetSuite) on the built-in datasets (shapes, folder, webdataset)
and on a small in-memory dataset registered by the test itself (``plugin = ...``), which also shows that the suite
fails datasets that break the contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import Field
from shard_fixtures import write_shards

import genkit
from genkit.testing import DatasetSuite

# -- built-in datasets ---------------------------------------------------------------------------------------------


class TestShapes(DatasetSuite):
    kind = "shapes"
    params = {"size": 16, "count": 40, "validation_count": 10}


class TestShapesHeldOut(TestShapes):
    params = {"size": 16, "count": 40, "validation_count": 10, "max_shapes": 1, "held_out": 1}


def write_folder(root, count=14, split_keys=False):
    """``count`` small random images of varied sizes and modes with ``captions.jsonl`` (an ``id`` kept as meta;
    every third item in validation when ``split_keys``)."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(count):
        width, height = int(rng.integers(18, 40)), int(rng.integers(18, 40))
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        image = image.convert("RGBA") if i % 4 == 1 else image.convert("L") if i % 4 == 2 else image
        name = f"img/{i:03d}.png"
        (root / "img").mkdir(parents=True, exist_ok=True)
        image.save(root / name)
        line = {"file": name, "caption": f"picture number {i}", "id": i}
        if split_keys:
            line["split"] = "validation" if i % 3 == 0 else "train"
        lines.append(json.dumps(line))
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


class TestFolder(DatasetSuite):
    """Hashed split, centre crops (with random crops the default identity, the image's bytes, cannot see that a
    training item is a validation one)."""

    kind = "folder"

    def make_params(self, tmp_path):
        write_folder(tmp_path / "data")
        return {"path": str(tmp_path / "data"), "size": 16, "validation_fraction": 0.3, "random_crop": False}


class TestFolderSplitKeysRandomCrops(DatasetSuite):
    """Splits named in captions.jsonl, random training crops: items are told apart by their ``id`` meta."""

    kind = "folder"

    def make_params(self, tmp_path):
        write_folder(tmp_path / "data", split_keys=True)
        return {"path": str(tmp_path / "data"), "size": 16, "cache": False}

    def identity(self, example):
        return example.meta["id"]


class TestWebDataset(DatasetSuite):
    """Streamed: the training split is read from the stream, validation is the in-memory head."""

    kind = "webdataset"
    sample = 12

    def make_params(self, tmp_path):
        write_shards(tmp_path / "shards", 2, 8)
        return {"shards": str(tmp_path / "shards"), "size": 16, "validation_fraction": 0.3, "validation_size": 6}


# -- a dataset registered by the test: `plugin = ...` ---------------------------------------------------------------


class PairsParams(genkit.Params):
    """In-memory random pairs; the flags break one part of the dataset contract each."""

    count: int = Field(12, ge=2, description="Items in all; every fourth one is validation.")
    overlap: bool = Field(False, description="Broken: the validation split repeats the first training items.")
    bright: bool = Field(False, description="Broken: pixels up to 2.")
    drifting: bool = Field(False, description="Broken: every build draws other images.")
    wrong_captions: bool = Field(False, description="Broken: captions(name) lists other captions than the items.")
    refuses: bool = Field(False, description="Broken: check() refuses valid data.")


_builds = 0


class Pairs:
    image_size = 8
    in_memory = True

    def __init__(self, params: PairsParams) -> None:
        global _builds
        _builds += 1
        self.params = params
        generator = torch.Generator().manual_seed(_builds if params.drifting else 0)
        scale = 2.0 if params.bright else 1.0
        items = [
            genkit.Example(torch.rand(3, 8, 8, generator=generator) * scale, f"pair {i}", {"i": i})
            for i in range(params.count)
        ]
        self.splits = {
            "train": [item for i, item in enumerate(items) if i % 4],
            "validation": [item for i, item in enumerate(items) if not i % 4],
        }
        if params.overlap:
            self.splits["validation"] = self.splits["validation"] + self.splits["train"][:1]

    def split(self, name: str) -> list[genkit.Example]:
        return self.splits[name]

    def captions(self, name: str) -> list[str]:
        return [item.caption.upper() if self.params.wrong_captions else item.caption for item in self.splits[name]]

    def check(self) -> None:
        if self.params.refuses:
            raise genkit.InputError("pairs: refused")


class PairsPlugin:
    @genkit.hookimpl
    def genkit_register_components(self, register):
        register("dataset", "conformance_pairs", params=PairsParams, build=lambda params, context: Pairs(params))


PAIRS = PairsPlugin()


class TestPairs(DatasetSuite):
    kind = "conformance_pairs"
    plugin = PAIRS


class TestSuiteFailsBrokenDatasets:
    plugin = PAIRS  # genkit_plugins registers it for this class too

    @pytest.mark.parametrize(
        ("flag", "check"),
        [
            ("overlap", "disjoint_splits"),
            ("bright", "splits"),
            ("drifting", "deterministic"),
            ("wrong_captions", "captions"),
            ("refuses", "check"),
        ],
    )
    def test_the_check_fails(self, flag, check, tmp_path, genkit_plugins):
        suite = TestPairs()
        suite.params = {flag: True}
        case = suite.make_case(tmp_path, genkit_plugins)
        with pytest.raises(AssertionError, match=rf"dataset conformance, check '{check}' \(conformance_pairs\): "):
            getattr(suite, f"test_{check}")(case)
        valid = TestPairs().make_case(tmp_path, genkit_plugins)
        getattr(suite, f"test_{check}")(valid)

    def test_the_plugin_is_registered_only_for_the_class(self, genkit_plugins):
        assert genkit.get_plugins() is genkit_plugins
        assert "conformance_pairs" in genkit_plugins.registry.kinds("dataset")


def test_the_test_plugin_is_gone_outside_its_classes():
    assert "conformance_pairs" not in genkit.get_plugins().registry.kinds("dataset")

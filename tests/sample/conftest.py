"""A tiny complete export shared by the sampling tests (tokenizer trained on a few captions, others untrained)."""

from __future__ import annotations

import pytest
from tiny_export import write_tiny_export

from genkit.sample import Pipeline


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """A complete export of tiny components (tokenizer trained on a few captions, others untrained)."""
    return write_tiny_export(tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="module")
def pipeline(export_dir):
    return Pipeline.from_export(export_dir)

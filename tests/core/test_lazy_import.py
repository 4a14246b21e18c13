"""``import genkit`` is cheap: the public names load on first use, so genkit's pytest plugin (auto-loaded in every
pytest session of an environment where genkit is installed) costs other projects nothing."""

from __future__ import annotations

import subprocess
import sys

import genkit


def test_the_pytest_plugin_imports_neither_torch_nor_pydantic():
    code = "import sys, genkit.testing.pytest_plugin; print(sorted({'torch', 'pydantic'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_public_name_resolves():
    for name in genkit.__all__:
        assert getattr(genkit, name) is not None, name
    assert set(genkit.__all__) <= set(dir(genkit))

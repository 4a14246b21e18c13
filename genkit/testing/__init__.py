"""The conformance kit: one test suite per role, which every plugin's tests run against its components.

The convention is the same for every role. A plugin's test module imports the suite of its role and subclasses it,
naming the ``kind`` under test and small ``params`` (values for ``genkit.make_params(role, kind, params)``)::

    from genkit.testing import AutoencoderSuite

    class TestMyVAE(AutoencoderSuite):
        kind = "myvae"
        params = {"codebook_size": 32, "hidden": 8}

    class TestMyVAEStraightThrough(TestMyVAE):  # a variant: one more subclass, every check again
        params = {**TestMyVAE.params, "straight_through": True}

pytest collects every inherited ``test_*`` method: each is one check of the role's contract and fails with an
``AssertionError`` naming the role, the check, the kind and what differed. The checks build the component afresh
(small, on the CPU) through the plugin registry. A class may also set ``context`` (``genkit.BuildContext`` fields
over the suite's defaults), ``seed``, role options (``image_size``, ``corpus``, ``batch``, ``sample``) and
``plugin`` (a plugin object to register when it is not installed through an entry point), or override the hooks
``make_params(tmp_path)`` (e.g. to write a dataset's files first), ``make_context(tmp_path)`` and ``build(case)``.
Skip one check by overriding its method with one that calls ``pytest.skip(reason)``.

The suites: :class:`AutoencoderSuite`, :class:`TokenizerSuite`, :class:`PriorSuite`, :class:`RerankerSuite` and
:class:`DatasetSuite` (the checks of each are listed in its module's docstring). Their fixtures
(``genkit_conformance``: the case a check runs on; ``genkit_plugins``: the plugin set) come from genkit's pytest
plugin, :mod:`genkit.testing.pytest_plugin`, which pytest loads by itself wherever genkit is installed.

This package imports its suites on first use, so that loading the pytest plugin stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genkit.testing.autoencoder import AutoencoderCase, AutoencoderSuite
    from genkit.testing.dataset import DatasetCase, DatasetSuite
    from genkit.testing.prior import PriorCase, PriorSuite
    from genkit.testing.reranker import RerankerCase, RerankerSuite
    from genkit.testing.suite import Case, Suite
    from genkit.testing.tokenizer import TokenizerCase, TokenizerSuite, default_corpus

_EXPORTS = {
    "AutoencoderCase": "autoencoder",
    "AutoencoderSuite": "autoencoder",
    "Case": "suite",
    "DatasetCase": "dataset",
    "DatasetSuite": "dataset",
    "PriorCase": "prior",
    "PriorSuite": "prior",
    "RerankerCase": "reranker",
    "RerankerSuite": "reranker",
    "Suite": "suite",
    "TokenizerCase": "tokenizer",
    "TokenizerSuite": "tokenizer",
    "default_corpus": "tokenizer",
}

__all__ = [
    "AutoencoderCase",
    "AutoencoderSuite",
    "Case",
    "DatasetCase",
    "DatasetSuite",
    "PriorCase",
    "PriorSuite",
    "RerankerCase",
    "RerankerSuite",
    "Suite",
    "TokenizerCase",
    "TokenizerSuite",
    "default_corpus",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'genkit.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"genkit.testing.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

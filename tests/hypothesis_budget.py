"""A scaled-down Hypothesis budget for property tests whose every example is expensive (it builds or trains a model).

The profiles of tests/conftest.py (``HYPOTHESIS_PROFILE``: default, ci, thorough) set how many examples a property
test tries. A test whose single example costs a good part of a second states instead how many it can afford under
the default profile, and keeps the profile's scale and everything else (deadline, derandomize, database)::

    from hypothesis_budget import costly

    @costly(8)  # every example builds and trains a model (~0.3 s each)
    @given(...)
    def test_...

``costly(8)`` tries 8 examples under ``default`` and ``ci`` (100 for a cheap test), 80 under ``thorough`` (1000).
Say in a comment what one example costs, so that the number can be revisited.
"""

from __future__ import annotations

from hypothesis import settings


def costly(examples: int) -> settings:
    """``examples`` under the default profile, scaled by the active profile's examples over the default's."""
    if examples < 1:
        raise ValueError(f"costly({examples}): at least one example")
    scale = settings.default.max_examples / settings.get_profile("default").max_examples
    return settings(max_examples=max(1, round(examples * scale)))

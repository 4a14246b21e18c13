"""The engine's tests share tests/train/engine_toy.py (importlib import mode: put its folder on the path); the toy
components are tests/toys.py (on the path from tests/conftest.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

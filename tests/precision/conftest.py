"""The engine's tests share tests/train/tiny_engine_models.py (importlib import mode: put its folder on the path)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

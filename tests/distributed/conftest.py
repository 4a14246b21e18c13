"""The FSDP test's workers run tests/train/engine_toy.py's job (importlib import mode: put its folder on the path)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

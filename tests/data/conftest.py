"""tests/data/shard_fixtures.py is shared by the data tests (importlib import mode: put its folder on the path)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

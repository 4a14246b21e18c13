"""Resumable training checkpoints, written atomically.

``STAGE_DIR/checkpoints/step_00001000/`` holds the model, optimizer and EMA tensors (``state.pt`` in a single
process; ``torch.distributed.checkpoint`` shards when the model is sharded), one ``extra_RANK.pt`` per rank with
the small state (scaler(s), schedule, data position, every RNG), and ``meta.json`` written last. The directory is
assembled under a temporary name and renamed into place, so a crash never leaves a half checkpoint under a real
name and never touches the last good one. Only plain tensors and containers are stored; loading uses
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genkit.distributed.env import DistEnv, barrier
from genkit.errors import ExportError

_STEP_DIR = re.compile(r"^step_(\d{8})$")
KEEP = 2


def rng_state() -> dict[str, Any]:
    """Every random number generator this process uses."""
    legacy = np.random.get_state()
    assert isinstance(legacy, tuple)  # numpy's global generator is an MT19937, whose legacy state is a tuple
    kind, keys, pos, has_gauss, cached = legacy
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def fingerprint(model: torch.nn.Module, settings: dict[str, Any], identity: Any = None) -> str:
    """What a checkpoint must match to be resumed into this run: parameter names/shapes, key settings and the
    job's ``identity`` (component params, data, upstream exports; see ``StageJob``)."""
    shapes = [(name, list(p.shape)) for name, p in model.named_parameters()]  # global shapes, also for DTensors
    text = json.dumps({"params": shapes, "settings": settings, "identity": identity}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_root(stage_dir: Path) -> Path:
    return Path(stage_dir) / "checkpoints"


class CorruptCheckpoint(ExportError):
    """A checkpoint whose files cannot be read (truncated, damaged); an older one may still be intact."""


def complete_checkpoints(stage_dir: Path) -> list[Path]:
    """Every complete checkpoint directory (one with ``meta.json``), oldest first."""
    root = checkpoint_root(stage_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / "meta.json").is_file())


def latest_checkpoint(stage_dir: Path) -> Path | None:
    """The newest complete checkpoint directory, or ``None``."""
    found = complete_checkpoints(stage_dir)
    return found[-1] if found else None


def set_aside(stage_dir: Path) -> Path | None:
    """Move the stage's checkpoints to ``checkpoints.set-aside-N`` (a fresh run must neither resume nor prune
    them); returns where they went, or ``None`` when there were none."""
    root = checkpoint_root(stage_dir)
    if not root.is_dir() or not any(root.iterdir()):
        return None
    number = 1
    while (target := root.with_name(f"checkpoints.set-aside-{number}")).exists():
        number += 1
    os.replace(root, target)
    return target


def save_checkpoint(
    stage_dir: Path,
    step: int,
    tensors: dict[str, Any],
    extra: dict[str, Any],
    meta: dict[str, Any],
    env: DistEnv,
    sharded: bool,
) -> Path:
    """Write checkpoint ``step`` (collective when distributed: every rank calls it). Returns its directory."""
    root = checkpoint_root(stage_dir)
    final = root / f"step_{step:08d}"
    tmp = root / f".tmp-step_{step:08d}"
    if env.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier(env)
    if sharded:
        from torch.distributed.checkpoint import state_dict_saver  # the package re-exports save implicitly

        state_dict_saver.save(tensors, checkpoint_id=str(tmp))
    elif env.is_main:
        torch.save(tensors, tmp / "state.pt")
    torch.save(extra, tmp / f"extra_{env.rank}.pt")
    barrier(env)
    if env.is_main:
        with open(tmp / "meta.json", "w", encoding="utf-8") as handle:
            json.dump({**meta, "step": step, "sharded": sharded, "world_size": env.world_size}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        complete = [p for p in complete_checkpoints(stage_dir) if p != final]
        for old in complete[: max(0, len(complete) - (KEEP - 1))]:  # the one just written is always kept
            shutil.rmtree(old, ignore_errors=True)
    barrier(env)
    return final


def read_meta(path: Path) -> dict[str, Any]:
    try:
        meta: dict[str, Any] = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        return meta
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path / 'meta.json'}: unreadable checkpoint metadata ({exc})") from None


def load_checkpoint(
    path: Path, tensors: dict[str, Any], env: DistEnv, expected_fingerprint: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read checkpoint ``path``. ``tensors`` is the template (same structure as saved) that sharded loads fill in
    place. Returns ``(tensors, extra)``; a mismatched or corrupt checkpoint is a one-line ``ExportError``."""
    try:
        meta = read_meta(path)
    except ExportError as exc:
        raise CorruptCheckpoint(str(exc)) from None
    if meta.get("fingerprint") != expected_fingerprint:
        raise ExportError(
            f"{path}: checkpoint does not match this run (model or settings changed since it was written); "
            "use --no-resume to start over"
        )
    try:
        if meta.get("sharded"):
            from torch.distributed.checkpoint import state_dict_loader  # the package re-exports load implicitly

            if not env.distributed:
                raise ExportError(f"{path}: a sharded checkpoint resumes under torchrun only")
            state_dict_loader.load(tensors, checkpoint_id=str(path))
            loaded = tensors
        else:
            loaded = torch.load(path / "state.pt", map_location=env.device, weights_only=True)
        extra_path = path / f"extra_{env.rank}.pt"
        if not extra_path.exists():
            extra_path = path / "extra_0.pt"
        extra = torch.load(extra_path, map_location="cpu", weights_only=True)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a corrupt checkpoint
        detail = str(exc).splitlines()[0] if str(exc) else ""
        if "weights only load failed" in str(exc).lower():  # torch's advice to unpickle it is not ours to repeat
            detail = "it holds something other than tensors and plain containers, and is never unpickled"
        raise CorruptCheckpoint(f"{path}: truncated or corrupt checkpoint ({type(exc).__name__}: {detail})") from None
    return loaded, extra

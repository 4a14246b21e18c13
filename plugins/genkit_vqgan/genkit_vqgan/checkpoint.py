"""Read a taming-transformers (PyTorch Lightning) ``.ckpt`` and its YAML config without executing pickled code.

A Lightning checkpoint is a ``torch.save`` file holding ``{"state_dict": {...}, "epoch", "global_step",
"pytorch-lightning_version", "callbacks", "optimizer_states", "lr_schedulers", "hyper_parameters", ...}``. Only
``state_dict`` is needed, but a pickle cannot be read in part, and the other entries name classes of their own
(Lightning callbacks keyed by their class, numpy scalars, omegaconf configs). ``torch.load`` therefore runs with a
restricted pickle module whose ``find_class``:

- answers tensor rebuilding (``torch._utils._rebuild_tensor_v2`` ...; storages are resolved by torch) and plain
  containers (``collections.OrderedDict``, ``builtins.set``...) with the real, harmless callables;
- answers every other global with a fresh inert :class:`Refused` class that records the global's name and the
  arguments it was given. Nothing is imported and nothing named by the pickle is called.

After loading, the ``state_dict`` must hold only tensors: a :class:`Refused` object there (or anywhere the
weights are read) is an error naming its global. The :class:`Refused` objects in the other entries are dropped
and reported by name (:attr:`LightningCheckpoint.skipped`).

The YAML is read with ``yaml.safe_load``; ``model.target`` is only compared with the two supported names.
"""

from __future__ import annotations

import pickle
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from genkit import ExportError
from genkit.helpers import TENSOR_GLOBALS

TARGETS = {"taming.models.vqgan.VQModel": "vq", "taming.models.vqgan.GumbelVQ": "gumbel"}


class Refused:
    """An inert record of an unknown pickled global (subclassed per global, with ``qualname`` set)."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:  # SETITEMS on a dict subclass
        pass

    def append(self, value: Any) -> None:  # APPENDS on a list subclass
        pass

    def extend(self, values: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<refused {self.qualname}>"


_SAFE_GLOBALS = TENSOR_GLOBALS  # tensors and plain containers (genkit.helpers.restricted_pickle)


class RestrictedUnpickler(pickle.Unpickler):
    """Real callables for tensors and containers; an inert :class:`Refused` subclass for any other global."""

    def find_class(self, module: str, name: str) -> Any:
        module = "builtins" if module == "__builtin__" else module
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        return type(name, (Refused,), {"qualname": f"{module}.{name}", "__module__": __name__})


def _pickle_module() -> types.ModuleType:
    module = types.ModuleType("genkit_vqgan_restricted_pickle")
    module.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
    module.load = lambda f, **kwargs: RestrictedUnpickler(f, **kwargs).load()  # type: ignore[attr-defined]
    return module


def _refused_in(value: Any, found: set[str], depth: int = 0) -> None:
    if isinstance(value, Refused) or (isinstance(value, type) and issubclass(value, Refused)):
        found.add(value.qualname)
    elif depth < 32 and isinstance(value, dict):
        for key, item in value.items():
            _refused_in(key, found, depth + 1)
            _refused_in(item, found, depth + 1)
    elif depth < 32 and isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _refused_in(item, found, depth + 1)


@dataclass
class LightningCheckpoint:
    """The tensors of a checkpoint's ``state_dict`` and the globals skipped in its other entries."""

    state_dict: dict[str, torch.Tensor]
    skipped: list[str] = field(default_factory=list)


def read_lightning_checkpoint(path: str | Path) -> LightningCheckpoint:
    """The ``state_dict`` of the Lightning checkpoint at ``path`` (tensors on the CPU), read without running
    pickled code; a one-line :class:`genkit.ExportError` naming the file for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            root = torch.load(path, map_location="cpu", pickle_module=_pickle_module(), weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line naming it
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise ExportError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {first_line})") from None
    if not isinstance(root, dict):
        raise ExportError(f"{path}: expected a Lightning checkpoint (a dict), found {type(root).__name__}")
    if "state_dict" not in root:
        raise ExportError(f"{path}: missing key 'state_dict' (not a Lightning checkpoint)")
    found: set[str] = set()
    _refused_in(root["state_dict"], found)
    if found:
        raise ExportError(f"{path}: refused to unpickle global {sorted(found)[0]} in state_dict (weights only)")
    if not isinstance(root["state_dict"], dict):
        raise ExportError(f"{path}: state_dict is a {type(root['state_dict']).__name__}, not a dict")
    for key, value in root["state_dict"].items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ExportError(f"{path}: state_dict[{key!r}] is a {type(value).__name__}, not a tensor")
    skipped: set[str] = set()
    _refused_in({k: v for k, v in root.items() if k != "state_dict"}, skipped)
    return LightningCheckpoint(dict(root["state_dict"]), sorted(skipped))


def _need(mapping: Any, key: str, where: str, path: Path) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise ExportError(f"{path}: missing key {where}{key}")
    return mapping[key]


def read_taming_config(path: str | Path) -> dict[str, Any]:
    """``vqgan`` params (a dict for :func:`genkit.make_params`) from a taming YAML (``model.target``,
    ``model.params.ddconfig``, ``n_embed``, ``embed_dim``); unsupported settings are one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such file")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: not a YAML config ({str(exc).splitlines()[0]})") from None
    model = _need(config, "model", "", path)
    target = _need(model, "target", "model.", path)
    if target not in TARGETS:
        raise ExportError(f"{path}: model.target is {target}; supported: {', '.join(TARGETS)}")
    params = _need(model, "params", "model.", path)
    dd = _need(params, "ddconfig", "model.params.", path)
    if params.get("remap") is not None:
        raise ExportError(f"{path}: model.params.remap is not supported (codes remapped to a used subset)")
    if dd.get("double_z", True):
        raise ExportError(f"{path}: model.params.ddconfig.double_z must be false for a VQGAN")
    for key in ("in_channels", "out_ch"):
        if _need(dd, key, "model.params.ddconfig.", path) != 3:
            raise ExportError(f"{path}: model.params.ddconfig.{key} is {dd[key]}; genkit's images have 3 channels")
    if not dd.get("resamp_with_conv", True) or dd.get("give_pre_end", False):
        raise ExportError(f"{path}: model.params.ddconfig: resamp_with_conv false / give_pre_end are not supported")
    out: dict[str, Any] = {"quantizer": TARGETS[target]}
    for key in ("ch", "ch_mult", "num_res_blocks", "attn_resolutions", "resolution", "z_channels"):
        out[key] = _need(dd, key, "model.params.ddconfig.", path)
    out["dropout"] = float(dd.get("dropout", 0.0))
    out["n_embed"] = _need(params, "n_embed", "model.params.", path)
    out["embed_dim"] = _need(params, "embed_dim", "model.params.", path)
    if out["quantizer"] == "gumbel" and "kl_weight" in params:
        out["kl_weight"] = float(params["kl_weight"])
    return out

"""Read OpenAI's released dVAE checkpoints (whole pickled ``dall_e`` modules) without executing pickled code.

OpenAI saved ``dall_e.encoder.Encoder`` and ``dall_e.decoder.Decoder`` objects with ``torch.save``. Unpickling
them normally imports ``dall_e`` and runs whatever the pickle names. Here ``torch.load`` runs with a restricted
pickle module whose ``find_class`` answers only:

- tensor rebuilding (``torch._utils._rebuild_tensor_v2``, ``_rebuild_parameter``; storages are resolved by torch),
  ``collections.OrderedDict``, ``builtins.set``, ``torch.device``;
- the known module classes (``dall_e.encoder.Encoder``/``EncoderBlock``, ``dall_e.decoder.Decoder``/
  ``DecoderBlock``, ``dall_e.utils.Conv2d`` and the ``torch.nn`` containers/activations they hold), each mapped
  to an inert :class:`StandIn` that only records its pickled state; nothing of theirs is imported or run.

Any other global is refused with a one-line :class:`genkit.ExportError` naming it.
"""

from __future__ import annotations

import pickle
import types
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from genkit import ExportError
from genkit.helpers import TENSOR_GLOBALS


class StandIn:
    """An inert record of a pickled object of a known class: its ``qualname`` and its pickled ``state``."""

    qualname = "?"
    dump_patches = False  # read by torch's legacy loader when a saved class source differs

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"state": state}

    def children(self) -> OrderedDict[str, StandIn]:
        return self.state.get("_modules") or OrderedDict()

    def __repr__(self) -> str:
        return f"<stand-in {self.qualname}>"


_MODULE_CLASSES = {
    "dall_e.encoder": ("Encoder", "EncoderBlock"),
    "dall_e.decoder": ("Decoder", "DecoderBlock"),
    "dall_e.utils": ("Conv2d",),
    "torch.nn.modules.container": ("Sequential",),
    "torch.nn.modules.activation": ("ReLU",),
    "torch.nn.modules.pooling": ("MaxPool2d",),
    "torch.nn.modules.upsampling": ("Upsample",),
    "torch.nn.modules.linear": ("Identity",),
}
STAND_INS: dict[tuple[str, str], type] = {
    (module, name): type(name, (StandIn,), {"qualname": f"{module}.{name}", "__module__": __name__})
    for module, names in _MODULE_CLASSES.items()
    for name in names
}


_SAFE_GLOBALS = TENSOR_GLOBALS  # tensors and plain containers (genkit.helpers.restricted_pickle)


class RestrictedUnpickler(pickle.Unpickler):
    """Refuses every global outside the tensor machinery and the known ``dall_e`` module layout."""

    source = "?"

    def find_class(self, module: str, name: str) -> Any:
        module = "builtins" if module == "__builtin__" else module  # protocol-2 pickles name builtins so
        if (module, name) in STAND_INS:
            return STAND_INS[(module, name)]
        if (module, name) in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[(module, name)]
        raise ExportError(
            f"{self.source}: refused to unpickle global {module}.{name} (not part of a dall_e checkpoint)"
        )


def _restricted_pickle_module(source: str) -> types.ModuleType:
    module = types.ModuleType("genkit_dvae_restricted_pickle")
    module.Unpickler = type("Unpickler", (RestrictedUnpickler,), {"source": source})  # type: ignore[attr-defined]
    module.load = lambda f, **kwargs: module.Unpickler(f, **kwargs).load()  # type: ignore[attr-defined]
    module.__name__ = "genkit_dvae_restricted_pickle"
    return module


def read_checkpoint(path: str | Path) -> StandIn:
    """The stand-in tree of a pickled ``dall_e`` module at ``path`` (tensors on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():  # the legacy format warns that the stand-ins' source differs from dall_e's
            warnings.simplefilter("ignore", UserWarning)
            root = torch.load(
                path, map_location="cpu", pickle_module=_restricted_pickle_module(str(path)), weights_only=False
            )
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one line naming it
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise ExportError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {first_line})") from None
    if not isinstance(root, StandIn):
        raise ExportError(f"{path}: expected a pickled dall_e module, found {type(root).__name__}")
    return root


def flatten_parameters(node: StandIn, prefix: str = "") -> dict[str, torch.Tensor]:
    """``{"blocks.group_1.block_1.res_path.conv_1.w": tensor, ...}``: every parameter and buffer of the tree."""
    tensors: dict[str, torch.Tensor] = {}
    for table in ("_parameters", "_buffers"):
        for name, value in (node.state.get(table) or {}).items():
            if value is not None:
                if not isinstance(value, torch.Tensor):
                    raise ExportError(f"{prefix}{name}: expected a tensor, found {type(value).__name__}")
                tensors[f"{prefix}{name}"] = value
    for name, child in node.children().items():
        if child is not None:
            tensors.update(flatten_parameters(child, f"{prefix}{name}."))
    return tensors

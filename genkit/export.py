"""The export format every stage writes and every later stage reads.

::

    EXPORT_DIR/
      model_index.json          {"autoencoder": {"kind": "dvae", "plugin": "dvae",
                                                 "plugin_version": "genkit-dvae 0.1.0"}, ...}
      autoencoder/config.json   {"kind": ..., "params": {...}, "context": {...}, "genkit_version": ...}
      autoencoder/model.safetensors
      tokenizer/config.json + the tokenizer's own files (written by its save_files)

Loading rebuilds the component through the registry from the kind and params, then loads tensors with
safetensors. Nothing is imported from a path in a file and nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ValidationError

from genkit.errors import ExportError, UnknownComponentError
from genkit.plugins.context import BuildContext
from genkit.plugins.manager import Plugins, get_plugins

INDEX = "model_index.json"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc})") from None


def role_digest(export_dir: str | Path, role: str) -> str:
    """A short hash of the files of ``role`` in ``export_dir`` (``"none"`` when it has no export): what a later
    stage records as the export it was trained on."""
    import hashlib

    role_dir = Path(export_dir) / role
    if not role_dir.is_dir():
        return "none"
    digest = hashlib.sha256()
    for path in sorted(p for p in role_dir.iterdir() if p.is_file()):
        digest.update(path.name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def nonfinite_tensor(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding a NaN or an infinity, or ``None``."""
    for name, tensor in tensors.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None


def save_component(
    export_dir: str | Path,
    role: str,
    component: Any,
    params: BaseModel,
    context: BuildContext,
    plugins: Plugins | None = None,
    trained_on: dict[str, str] | None = None,
) -> Path:
    """Save ``component`` (built from ``params``, whose ``kind`` names it) as ``role`` in ``export_dir``.

    The role's directory is written beside the old one and swapped in by renames, so an interrupted save leaves
    the previous export intact. A module with a non-finite weight is refused (``ExportError`` naming the tensor):
    a diverged model never replaces a good export. ``trained_on`` (``{role: role_digest}`` of the exports this
    one was trained on) is recorded in its config; ``model_index.json`` records each role's own digest, so that
    :func:`load_component` can tell when an upstream export changed under a downstream one. Returns the role
    directory.
    """
    plugins = plugins or get_plugins()
    plugins.registry.role(role)  # an unknown role is an error naming the roles
    if isinstance(component, torch.nn.Module):
        bad = nonfinite_tensor(component.state_dict())
        if bad is not None:
            raise ExportError(
                f"{Path(export_dir) / role}: not exported: weight {bad!r} is not finite (NaN or inf); "
                "the previous export is kept"
            )
    plugins = plugins or get_plugins()
    kind = getattr(params, "kind", None)
    spec = plugins.registry.get(role, kind)
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=export_dir, prefix=f".{role}."))
    try:
        from genkit import __version__

        config = {
            "kind": kind,
            "params": params.model_dump(mode="json", exclude={"kind"}),
            "context": context.to_json(),
            "genkit_version": __version__,
        }
        if trained_on:
            config["trained_on"] = dict(sorted(trained_on.items()))
        write_json_atomic(staging / CONFIG, config)
        if isinstance(component, torch.nn.Module):
            from safetensors.torch import save_model

            save_model(component, str(staging / WEIGHTS))
        if hasattr(component, "save_files"):
            component.save_files(staging)
        final = export_dir / role
        old = export_dir / f".{role}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    index_path = export_dir / INDEX
    index = read_json(index_path) if index_path.exists() else {}
    info = plugins.infos.get(spec.owner)
    index[role] = {
        "kind": kind,
        "plugin": spec.owner,
        "plugin_version": f"{info.distribution} {info.version}" if info else "?",
        "digest": role_digest(export_dir, role),
    }
    write_json_atomic(index_path, index)
    return export_dir / role


def read_component_config(
    export_dir: str | Path, role: str, plugins: Plugins | None = None
) -> tuple[BaseModel, BuildContext]:
    """The validated params (with ``kind``) and build context of ``role`` in ``export_dir``."""
    from genkit.recipe.schema import kind_model

    plugins = plugins or get_plugins()
    export_dir = Path(export_dir)
    index = read_json(export_dir / INDEX)
    if not isinstance(index, dict) or role not in index:
        present = ", ".join(sorted(index)) if isinstance(index, dict) else "none"
        raise ExportError(f"{export_dir / INDEX}: no {role!r} in this export (it has: {present})")
    config = read_json(export_dir / role / CONFIG)
    kind = config.get("kind") if isinstance(config, dict) else None
    try:
        spec = plugins.registry.get(role, kind)
    except UnknownComponentError as exc:
        entry = index[role]
        raise ExportError(
            f"{export_dir / role / CONFIG}: needs {role} kind {kind!r} from plugin {entry.get('plugin')!r} "
            f"({entry.get('plugin_version')}), which is not loaded: {exc}"
        ) from None
    try:
        params = kind_model(spec).model_validate({**config.get("params", {}), "kind": kind})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ExportError(f"{export_dir / role / CONFIG}: params.{key}: {first['msg']}") from None
    return params, BuildContext.from_json(config.get("context", {}))


def check_provenance(export_dir: str | Path, role: str) -> None:
    """Refuse ``role`` when an export it was trained on has been replaced since (e.g. an autoencoder retrained
    with ``--no-resume`` under a prior trained on its old tokens): a one-line ``ExportError`` naming both."""
    export_dir = Path(export_dir)
    config = read_json(export_dir / role / CONFIG)
    trained_on = config.get("trained_on") if isinstance(config, dict) else None
    if not isinstance(trained_on, dict):
        return  # exported before provenance was recorded, or trained on nothing else
    index = read_json(export_dir / INDEX)
    for upstream, digest in sorted(trained_on.items()):
        now = index.get(upstream, {}).get("digest") if isinstance(index.get(upstream), dict) else None
        if now is not None and digest != "none" and now != digest:
            raise ExportError(
                f"{export_dir / role}: was trained on another {upstream} than the one exported now "
                f"({digest} vs {now}); train the {role} again (genkit run RECIPE --stage {role})"
            )


def load_component(
    export_dir: str | Path,
    role: str,
    plugins: Plugins | None = None,
    device: str | torch.device = "cpu",
    check_upstream: bool = True,
) -> Any:
    """Rebuild ``role`` from ``export_dir`` through the registry and load its weights and files (eval mode).

    With ``check_upstream`` (default) a role trained on exports that have since been replaced is refused
    (:func:`check_provenance`); non-finite weights are refused by name."""
    plugins = plugins or get_plugins()
    export_dir = Path(export_dir)
    params, context = read_component_config(export_dir, role, plugins)
    if check_upstream:
        check_provenance(export_dir, role)
    # ``kind`` is the field kind_model adds to the kind's params model (not one of BaseModel's)
    component = plugins.registry.get(role, getattr(params, "kind", None)).build(params, context)
    role_dir = export_dir / role
    if isinstance(component, torch.nn.Module):
        load_weights(component, role_dir / WEIGHTS)
        component.to(device).eval()
    if hasattr(component, "load_files"):
        component.load_files(role_dir)
    return component


def load_weights(module: torch.nn.Module, path: Path) -> None:
    """Load a safetensors file into ``module`` (strict), with one-line errors for every way it can be wrong."""
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    if not path.exists():
        raise ExportError(f"{path}: no such file")
    try:
        missing, unexpected = load_model(module, str(path), strict=False)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ExportError(f"{path}: truncated or corrupt safetensors file ({exc})") from None
    except RuntimeError as exc:  # torch: a header line, then one line per tensor ("size mismatch for ...")
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines if "mismatch" in line), lines[0] if lines else "")
        raise ExportError(f"{path}: weights do not fit the model built from config.json ({detail})") from None
    if missing or unexpected:
        raise ExportError(
            f"{path}: weights do not match config.json (missing: {', '.join(sorted(missing)[:5]) or 'none'}; "
            f"unexpected: {', '.join(sorted(unexpected)[:5]) or 'none'})"
        )
    bad = nonfinite_tensor(module.state_dict())
    if bad is not None:
        raise ExportError(f"{path}: weight {bad!r} is not finite (NaN or inf); refusing to use it")

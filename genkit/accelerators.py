"""Which accelerator libraries are installed, and whether xformers' kernels fit the installed torch.

xformers ships compiled kernels for exactly one torch build; its ``cpp_lib.json`` names it. With another torch its
extension does not load, and xformers falls back (torch's own cutlass kernels where they exist; otherwise an
error), so genkit says which pair is installed (``genkit plugins``) and the ``gpu`` extra pins a pair that fits:
:data:`GPU_PAIR`. Nothing here imports xformers or bitsandbytes (importing xformers loads its extension).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from pathlib import Path
from typing import Any

import torch

#: The ``gpu`` extra's pins (pyproject.toml; a test keeps them equal): xformers 0.0.35's wheel is built against
#: torch 2.10.0 with CUDA 12.8, which is PyPI's torch 2.10.0 for Linux.
GPU_PAIR = {"torch": "2.10.0", "xformers": "0.0.35"}


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _base(version: str) -> str:
    return version.split("+", 1)[0]


def xformers_build() -> dict[str, Any] | None:
    """xformers' build record (``cpp_lib.json``: the torch and CUDA it was compiled for), or ``None`` when xformers
    is not installed or has no record; read from the package folder, without importing xformers."""
    spec = importlib.util.find_spec("xformers")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        record = Path(folder) / "cpp_lib.json"
        if record.is_file():
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                return None
            return data if isinstance(data, dict) else None
    return None


def library_report() -> dict[str, Any]:
    """torch (version, CUDA), xformers (version, the torch it was built for, whether its kernels fit the installed
    torch), bitsandbytes (version), and the ``gpu`` extra's pair."""
    torch_version = torch.__version__
    report: dict[str, Any] = {
        "torch": torch_version,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "xformers": _version("xformers"),
        "bitsandbytes": _version("bitsandbytes"),
        "gpu_extra_pair": dict(GPU_PAIR),
    }
    build = xformers_build()
    built_for = str(build.get("version", {}).get("torch")) if build else None
    report["xformers_built_for_torch"] = built_for
    if report["xformers"] is None:
        report["xformers_kernels"] = "not installed"
    elif built_for is None:
        report["xformers_kernels"] = "unknown (no build record)"
    elif _base(built_for) != _base(torch_version):
        report["xformers_kernels"] = f"do not load: built for torch {built_for}, installed {torch_version}"
    elif torch.version.cuda is None:
        report["xformers_kernels"] = f"built for this torch ({built_for}), but this torch has no CUDA"
    else:
        report["xformers_kernels"] = f"load: built for torch {built_for}"
    return report


def library_lines() -> list[str]:
    """:func:`library_report` as the lines ``genkit plugins`` prints."""
    r = library_report()
    pair = r["gpu_extra_pair"]
    cuda = f"CUDA {r['torch_cuda']}" if r["torch_cuda"] else "no CUDA"
    return [
        "accelerator libraries",
        f"  torch {r['torch']} ({cuda}{', a GPU is visible' if r['cuda_available'] else ''})",
        f"  xformers {r['xformers'] or '-'}: kernels {r['xformers_kernels']}",
        f"  bitsandbytes {r['bitsandbytes'] or '-'}",
        f"  the gpu extra pins torch=={pair['torch']} with xformers=={pair['xformers']} (kernels built for that torch)",
    ]

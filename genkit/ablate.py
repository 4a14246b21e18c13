"""``genkit ablate``: run a recipe's variants, reuse identical stages, and compare them in one table.

Each variant is the recipe plus overrides (the cartesian product of the ``--vary`` lists; keys joined by ``;`` in
one ``--vary`` change together), with every setting
counted in optimizer steps (fields declared :data:`genkit.Steps`) multiplied by ``--steps-scale``. Every variant
gets its own run directory under the ablation's; a stage whose inputs are identical to an earlier variant's
(same data, component and stage settings, same upstream stages) is copied from it, and the training engine's
own "already finished" check then skips it. Each variant is evaluated with :func:`genkit.evaluate.evaluate_run`.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genkit.errors import InputError
from genkit.export import INDEX, read_json, write_json_atomic
from genkit.plugins.manager import Plugins, get_plugins
from genkit.recipe import LoadedRecipe, dump_recipe, load_recipe
from genkit.steps import step_count_overrides

METRICS = (
    "faithfulness",
    "faithfulness_first",
    "candidates_faithful",
    "val_bits_per_image_token",
    "psnr",
    "codebook_usage",
    "reranker_top1",
)


@dataclass
class Variant:
    name: str
    overrides: list[str]
    run_dir: Path


def parse_vary(items: Sequence[str]) -> list[list[list[str]]]:
    """One axis per ``--vary`` item, one list of overrides per value: ``["autoencoder=dvae,vqvae"]`` ->
    ``[[["autoencoder=dvae"], ["autoencoder=vqvae"]]]``. Keys joined by ``;`` in one item vary together (their
    i-th values make the i-th variant): ``"prior.depth=2,4; stages.prior.steps=800,400"`` ->
    ``[[["prior.depth=2", "stages.prior.steps=800"], ["prior.depth=4", "stages.prior.steps=400"]]]``."""
    axes = []
    for item in items:
        columns = []
        for part in _split_top_level(item, ";"):
            key, sep, values = part.partition("=")
            choices = [v.strip() for v in _split_top_level(values)]
            if not sep or not key.strip() or not all(choices):
                raise InputError(f"--vary {item!r}: expected KEY=V1,V2,... e.g. autoencoder=dvae,vqvae")
            columns.append([f"{key.strip()}={value}" for value in choices])
        if len({len(column) for column in columns}) > 1:
            counts = ", ".join(f"{column[0].partition('=')[0]}: {len(column)}" for column in columns)
            raise InputError(f"--vary {item!r}: keys varied together need as many values each ({counts})")
        axes.append([list(values) for values in zip(*columns, strict=True)])
    return axes


def _split_top_level(text: str, separator: str = ",") -> list[str]:
    """Split on ``separator`` outside brackets, so ``prior.attention=[row,column],paper`` has two values."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def variant_label(override: str) -> str:
    """``autoencoder={kind: vqvae, hidden: 32}`` -> ``autoencoder=vqvae``; plain overrides stay as they are."""
    from genkit.recipe import parse_override

    parsed = parse_override(override)
    if isinstance(parsed.value, dict) and "kind" in parsed.value:
        return f"{'.'.join(map(str, parsed.path))}={parsed.value['kind']}"
    return override


def variant_name(overrides: Sequence[str]) -> str:
    """A folder name for a variant: ``autoencoder=vqvae prior.depth=2`` -> ``autoencoder-vqvae__prior.depth-2``."""
    labels = [variant_label(o) for o in overrides]
    return "__".join(re.sub(r"[^A-Za-z0-9_.=-]+", "-", o).replace("=", "-") for o in labels) or "base"


def stage_keys(loaded: LoadedRecipe, plugins: Plugins | None = None) -> dict[str, str]:
    """For each registered stage that trains a role: a key of everything it reads (the data section, its role's
    section, its settings, the seed, and the keys of the stages that train the roles it needs). Two variants with
    the same key train the same export, so the second copies the first's."""
    registry = (plugins or get_plugins()).registry
    data = loaded.recipe.model_dump(mode="json")
    trained_by = {stage.trains: name for name, stage in registry.stages.items() if stage.trains is not None}
    keys: dict[str, str] = {}
    for name, stage in registry.stages.items():
        if stage.trains is None:
            continue
        settings = getattr(loaded.recipe.stages, name, None) if stage.settings is not None else None
        sections = [registry.role("dataset").section, registry.role(stage.trains).section]
        parts: dict[str, Any] = {"seed": data.get("seed"), f"stages.{name}": data["stages"].get(name)}
        parts.update({section: data.get(section) for section in sections})
        upstream = [trained_by[role] for role in stage.needs_for(settings) if role in trained_by]
        parts["upstream"] = [keys[stage_name] for stage_name in upstream if stage_name in keys]
        keys[name] = json.dumps(parts, sort_keys=True)
    return keys


def reuse_stages(source: Path, target: Path, stages: Sequence[str], plugins: Plugins | None = None) -> list[str]:
    """Copy finished ``stages`` (their stage dirs and the export of the role each trains) from run ``source`` into
    ``target``."""
    registry = (plugins or get_plugins()).registry
    copied: list[str] = []
    source_index = source / "export" / INDEX
    if not source_index.exists():
        return copied
    index = read_json(source_index)
    target_index_path = target / "export" / INDEX
    target_index = read_json(target_index_path) if target_index_path.exists() else {}
    for stage in stages:
        trains = registry.stages[stage].trains
        roles = (trains,) if trains is not None else ()
        if not all(role in index and (source / "export" / role).is_dir() for role in roles):
            continue
        if (source / stage).is_dir():
            shutil.copytree(source / stage, target / stage, dirs_exist_ok=True)
        for role in roles:
            shutil.copytree(source / "export" / role, target / "export" / role, dirs_exist_ok=True)
            target_index[role] = index[role]
        copied.append(stage)
    if copied:
        write_json_atomic(target_index_path, target_index)
    return copied


def check_steps_scale(steps_scale: float) -> None:
    if not math.isfinite(steps_scale) or steps_scale <= 0:
        raise InputError(f"--steps-scale {steps_scale:g}: expected a positive factor, e.g. 0.25")


def variant_recipe(
    recipe: str, overrides: Sequence[str], steps_scale: float = 1.0, plugins: Plugins | None = None
) -> LoadedRecipe:
    """The recipe with ``overrides``, then every step count (see :mod:`genkit.steps`) multiplied by ``steps_scale``.

    The scaling comes after the overrides, so it covers the variant's own components (a swapped-in autoencoder's
    step counts) and step counts set by the overrides themselves.
    """
    check_steps_scale(steps_scale)
    loaded = load_recipe(recipe, overrides, plugins)
    if steps_scale == 1.0:
        return loaded
    return load_recipe(recipe, [*overrides, *step_count_overrides(loaded.recipe, steps_scale)], plugins)


def run_ablation(
    recipe: str,
    vary: Sequence[str],
    out: Path,
    *,
    steps_scale: float = 1.0,
    base_overrides: Sequence[str] = (),
    eval_captions: int = 64,
    eval_candidates: int | None = None,
    eval_seeds: int = 1,
    plugins: Plugins | None = None,
    log: Callable[[str], object] = print,
) -> list[dict[str, Any]]:
    from genkit.evaluate import evaluate_run
    from genkit.stages.pipeline import run_pipeline

    plugins = plugins or get_plugins()
    if eval_seeds < 1:
        raise InputError(f"--seeds {eval_seeds}: must be at least 1")
    axes = parse_vary(vary)
    if not axes:
        raise InputError("give at least one --vary KEY=V1,V2")
    combos = [[o for choice in combo for o in choice] for combo in itertools.product(*axes)]
    # every variant validates (and is scaled) before the first one trains
    recipes = [variant_recipe(recipe, [*base_overrides, *combo], steps_scale, plugins) for combo in combos]
    rows: list[dict[str, Any]] = []
    seen: dict[str, Path] = {}  # stage key -> run dir that trained it
    for combo, loaded in zip(combos, recipes, strict=True):
        name = variant_name(combo)
        while any(row["run_dir"] == str(out / name) for row in rows):  # two mappings of the same kind
            name += "_"
        variant = Variant(name, list(combo), out / name)
        variant.run_dir.mkdir(parents=True, exist_ok=True)
        (variant.run_dir / "recipe.resolved.yaml").write_text(dump_recipe(loaded, plugins), encoding="utf-8")
        keys = stage_keys(loaded, plugins)
        for stage, key in keys.items():
            if key in seen and seen[key] != variant.run_dir:
                for copied in reuse_stages(seen[key], variant.run_dir, [stage], plugins):
                    log(f"[{variant.name}] reusing stage {copied} from {seen[key].name}")
        log(f"[{variant.name}] running {' '.join(combo)}")
        started = time.perf_counter()
        run_pipeline(loaded, variant.run_dir, plugins=plugins)
        trained = time.perf_counter() - started
        for key in keys.values():
            seen.setdefault(key, variant.run_dir)
        report = evaluate_run(
            variant.run_dir, captions=eval_captions, candidates=eval_candidates, seeds=eval_seeds, plugins=plugins
        )
        row = {
            "variant": " ".join(variant_label(o) for o in combo),
            **{m: report.get(m) for m in METRICS},
            "train_seconds": round(trained, 1),
            "run_dir": str(variant.run_dir),
        }
        rows.append(row)
        log(f"[{variant.name}] " + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k in METRICS))
        if "per_seed" in report:
            seeds = ", ".join(f"{k}=" + "/".join(_fmt(v) for v in values) for k, values in report["per_seed"].items())
            log(f"[{variant.name}] seeds {report['seeds']}: {seeds}")
    write_table(rows, out)
    return rows


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_table(rows: list[dict[str, Any]], out: Path) -> None:
    columns = ["variant", *METRICS, "train_seconds"]
    with open(out / "ablation.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |" for row in rows]
    (out / "ablation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    from genkit.ablate_chart import bar_chart

    bar_chart(
        rows,
        ["faithfulness", "faithfulness_first", "candidates_faithful", "codebook_usage", "reranker_top1"],
        out / "ablation.png",
    )

"""Every hook a genkit plugin can implement. The docstring of each hookspec is its contract.

A plugin is a module (or object) with functions decorated by ``genkit.hookimpl`` whose names match the specs
below. It is found through the entry-point group ``genkit`` (``[project.entry-points.genkit] NAME = "module"``)
or registered directly with ``genkit.get_plugins().register_plugin(module, "NAME")`` (tests, notebooks).

Hook names follow ``genkit_<verb>_<noun>``. Hooks called for every plugin return ``None`` (or, for
``genkit_recipe_dirs``, a list that genkit concatenates); a ``firstresult`` hook stops at the first non-``None``
answer (``tryfirst``/``trylast`` order the candidates). Built-in roles, stages, datasets and the attention
backend are registered through these same hooks by genkit's own plugins.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("genkit")
hookimpl = pluggy.HookimplMarker("genkit")


@hookspec
def genkit_register_roles(register: Any) -> None:
    """Declare roles: call ``register(genkit.RoleSpec(...))`` once per role.

    genkit's own ``roles`` plugin declares ``dataset``, ``tokenizer``, ``autoencoder``, ``prior`` and ``reranker``;
    a new role gets a recipe section, ``genkit describe`` and reference docs with no change to genkit. A role's
    name and section must be new (an error naming both plugins otherwise). Roles are registered before any
    plugin's components, so a plugin may declare a role and fill it.
    """


@hookspec
def genkit_register_stages(register: Any) -> None:
    """Declare pipeline stages: call ``register(genkit.StageSpec(...))`` once per stage.

    Stages run in registration order (genkit's: autoencoder, tokenizer, prior, reranker, sample; a plugin's come
    after). A stage with ``settings`` gets a ``stages.NAME`` recipe section and a ``genkit run --stage NAME``
    choice; ``trains``/``needs`` name roles, which the recipe check and the planner use. A name already taken is
    an error naming both plugins.
    """


@hookspec
def genkit_register_components(register: Any) -> None:
    """Register the components this plugin provides.

    Call ``register(role, kind, params=ParamsModel, build=fn, description="...")`` once per component:

    - ``role``: a registered role (``dataset``, ``tokenizer``, ``autoencoder``, ``prior``, ``reranker``).
    - ``kind``: the name recipes use (``kind: dvae``); lowercase letters, digits, ``_``. Two plugins claiming the
      same (role, kind) is an error that names both.
    - ``params``: a subclass of ``genkit.Params`` (pydantic, ``extra="forbid"``); every field has a default and a
      ``description``. Do not declare ``kind``.
    - ``build(params, context) -> component``: pure construction on the CPU, no I/O, no training; ``context`` is a
      ``genkit.BuildContext``. The component must have every member of the role's Protocol (``genkit.Autoencoder``...):
      ``genkit.build_component`` refuses one that lacks a member, naming it.

    Must not raise for a healthy install; if it does, the plugin is reported and skipped (an error in strict mode).
    """


@hookspec
def genkit_register_commands(cli: Any) -> None:
    """Add subcommands to the ``genkit`` command line.

    ``cli.add_command(name, help=..., setup=fn(parser), run=fn(args) -> int | None, description=...)`` adds
    ``genkit NAME``. ``setup`` adds ``argparse`` arguments; ``run`` does the work and returns the exit code
    (``None`` = 0). Raise ``genkit.InputError`` for bad input: the CLI prints its message on one line, exits 2.
    A name already taken is an error naming both plugins.

    ``cli.add_subcommand(group, name, help=..., setup=..., run=..., description=..., group_help=...)`` adds
    ``genkit GROUP NAME`` to a command that several plugins share (genkit's own plugins add ``genkit import
    openai-dvae`` and ``genkit import vqgan`` this way); the same rules apply within the group.
    """


@hookspec
def genkit_train_start(stage: str, run_dir: Any, model: Any, settings: Any, start_step: int) -> None:
    """Observe the start (or resumption, ``start_step > 0``) of a training stage.

    ``stage`` is the stage name (``autoencoder``, ``prior``, ``reranker``), ``run_dir`` the stage's output
    directory (``pathlib.Path``), ``model`` the component being trained, ``settings`` its validated stage settings.
    Observers must not modify the model or the settings. Called on every rank.
    """


@hookspec
def genkit_step_end(stage: str, step: int, metrics: dict[str, float]) -> None:
    """Observe the end of optimizer step ``step`` (1-based) with its scalar ``metrics`` (floats).

    Called on rank 0 only, after the metrics are logged. Must be cheap: it runs every step.
    """


@hookspec
def genkit_checkpoint_saved(stage: str, step: int, path: Any) -> None:
    """Observe that a complete, resumable checkpoint for ``step`` now exists at ``path`` (already renamed
    into place, so it is safe to copy). Called on rank 0 only."""


@hookspec
def genkit_train_end(stage: str, run_dir: Any, metrics: dict[str, float], export_dir: Any) -> None:
    """Observe the successful end of a stage: final validation ``metrics`` and the ``export_dir`` written.
    Not called when the stage fails or is interrupted. Called on rank 0 only."""


@hookspec(firstresult=True)
def genkit_select_attention(device: Any, dtype: Any, layout: Any) -> Any:
    """Choose the attention backend for one attention layer.

    ``device`` (``torch.device``) and ``dtype`` are where the layer runs; ``layout`` describes the attention
    pattern (``genkit.attention.AttentionLayout``: text length, image grid, layer type). Return an object with
    ``__call__(q, k, v) -> out`` (tensors ``[batch, heads, seq, head_dim]``) that computes exactly the attention
    ``layout`` defines for the first ``seq <= layout.length`` positions of its stream (a prior may leave out the
    last positions; the pattern is causal, so they change nothing before them), or ``None`` to let another
    plugin answer. The first non-``None`` answer wins; genkit's
    own dense SDPA backend answers last, so every layout always has a backend.
    """


@hookspec
def genkit_recipe_dirs() -> Any:
    """Folders of recipes this plugin ships: a list of ``pathlib.Path`` (or ``None``).

    Every ``*.yaml`` under a folder is a built-in recipe named by its path without the suffix (``icons/tiny``),
    listed by ``genkit ls`` and accepted wherever a recipe path is. Ship them as package data and return e.g.
    ``[Path(__file__).parent / "recipes"]``. Precedence, first wins: ``GENKIT_RECIPES_PATH``, genkit's own
    recipes, then plugins in load order.
    """


@hookspec(firstresult=True)
def genkit_select_judge(data: Any) -> Any:
    """A judge of faithfulness for the dataset configured by ``data`` (its validated recipe section), or ``None``.

    Return an object with ``judge(image, example) -> dict`` (a ``genkit.Judge``): ``image`` ``float[3, S, S]`` in
    ``[0, 1]`` drawn for ``example.caption`` (an ``Example`` of the validation split, with its ``meta``). The dict
    holds ``faithful`` (1.0 when the image shows what the caption says, else 0.0) and per-attribute scores in
    ``[0, 1]`` (``None`` where the caption says nothing of it). ``genkit eval`` reports faithfulness only for data
    that some plugin judges; the ``shapes`` data's judge is genkit's own.
    """

"""Plugin discovery and isolation: entry points, failures, strict mode, duplicates, env switches."""

from __future__ import annotations

import sys
import textwrap

import pytest
from pydantic import Field

import genkit
from genkit.errors import PluginError
from genkit.plugins.manager import Plugins


def fake_distribution(root, dist, module, source, entry_name=None):
    """An installed distribution on disk: package module + dist-info with an entry point in group genkit."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[genkit]\n{entry_name or module} = {module}\n")


GOOD = """
    from types import SimpleNamespace
    from pydantic import Field
    import genkit

    class P(genkit.Params):
        width: int = Field(3, description="w")

    def build(p, c):  # every member of genkit.Prior, as build_component checks
        return SimpleNamespace(width=p.width, loss=None, sample=None, residual_blocks=list, shard_units=list)

    @genkit.hookimpl
    def genkit_register_components(register):
        register("prior", "good_prior", params=P, build=build)
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith(("gk_good", "gk_bad", "gk_dup"))]:
        del sys.modules[name]


def load(env):
    return Plugins(env=env).load()


def test_entry_point_plugin_is_discovered_with_its_distribution(site):
    fake_distribution(site, "gk-good", "gk_good", GOOD)
    plugins = load({})
    info = plugins.infos["gk_good"]
    assert (info.distribution, info.version) == ("gk-good", "1.2.3")
    assert [f"{s.role}:{s.kind}" for s in info.components] == ["prior:good_prior"]
    built = genkit.build_component(
        "prior", genkit.make_params("prior", "good_prior", {"width": 5}, plugins), plugins=plugins
    )
    assert built.width == 5


def test_plugin_failing_on_import_is_reported_and_skipped(site, capsys):
    fake_distribution(site, "gk-good", "gk_good", GOOD)
    fake_distribution(site, "gk-bad", "gk_bad", "raise RuntimeError('boom at import')\n")
    plugins = load({})
    assert "gk_good" in plugins.infos and "gk_bad" not in plugins.infos
    assert [(f.name, "boom at import" in f.reason) for f in plugins.failures] == [("gk_bad", True)]
    assert "plugin 'gk_bad' skipped" in capsys.readouterr().err


def test_plugin_failing_in_its_hook_leaves_nothing_registered(site):
    fake_distribution(
        site,
        "gk-bad",
        "gk_bad",
        GOOD.replace(
            'register("prior", "good_prior", params=P, build=build)',
            'register("prior", "half_prior", params=P, build=lambda p, c: None)\n'
            '        raise ValueError("hook broke")',
        ),
    )
    plugins = load({})
    assert "half_prior" not in plugins.registry.kinds("prior")
    assert "hook broke" in plugins.failures[0].reason and "gk_bad" not in plugins.infos
    assert plugins.manager.get_plugin("gk_bad") is None


def test_invalid_registration_is_a_plugin_failure(site):
    fake_distribution(site, "gk-bad", "gk_bad", GOOD.replace('"good_prior"', '"Bad-Kind"'))
    plugins = load({})
    assert "a kind is lowercase" in plugins.failures[0].reason


def test_strict_mode_fails_instead(site):
    fake_distribution(site, "gk-bad", "gk_bad", "raise RuntimeError('boom')\n")
    with pytest.raises(PluginError, match=r"plugin 'gk_bad' failed to import: RuntimeError: boom.*STRICT"):
        load({"GENKIT_STRICT_PLUGINS": "1"})


def test_duplicate_kind_names_both_owners(site):
    fake_distribution(site, "gk-good", "gk_good", GOOD)
    fake_distribution(site, "gk-dup", "gk_dup", GOOD)
    with pytest.raises(PluginError, match=r"prior kind 'good_prior' is registered by both 'gk_dup' and 'gk_good'"):
        load({})


def test_allow_and_deny_lists(site):
    fake_distribution(site, "gk-good", "gk_good", GOOD)
    fake_distribution(site, "gk-bad", "gk_bad", "raise RuntimeError('boom')\n")
    only_good = load({"GENKIT_LOAD_PLUGINS": "gk_good"})
    assert "gk_good" in only_good.infos and not only_good.failures
    none = load({"GENKIT_LOAD_PLUGINS": ""})
    assert not any(not info.builtin for info in none.infos.values())
    denied = load({"GENKIT_DISABLE_PLUGINS": "gk_bad, gk_good"})
    assert "gk_good" not in denied.infos and not [f for f in denied.failures if f.name.startswith("gk_")]


def test_params_must_be_genkit_params_and_must_not_declare_kind(make_plugins):
    from pydantic import BaseModel

    class NotParams(BaseModel):
        x: int = 1

    class WithKind(genkit.Params):
        kind: str = Field("x", description="no")

    class Plugin:
        def __init__(self, params):
            self.params = params

        @genkit.hookimpl
        def genkit_register_components(self, register):
            register("prior", "p", params=self.params, build=lambda p, c: None)

    plugins = make_plugins(Plugin(NotParams), Plugin(WithKind))
    reasons = " | ".join(f.reason for f in plugins.failures)
    assert "must subclass genkit.Params" in reasons and "must not declare 'kind'" in reasons


def test_unknown_role_and_kind_lookups_suggest(toy_plugins):
    with pytest.raises(genkit.UnknownComponentError, match=r"unknown autoencoder kind 'toy_a'; did you mean 'toy_ae'"):
        toy_plugins.registry.get("autoencoder", "toy_a")
    with pytest.raises(genkit.UnknownComponentError, match="unknown role 'decoder'"):
        toy_plugins.registry.get("decoder", "x")


def test_plugin_commands_and_command_clash(make_plugins):
    class Commands:
        def __init__(self, name):
            self.name = name

        @genkit.hookimpl
        def genkit_register_commands(self, cli):
            cli.add_command(self.name, help="say hi", setup=lambda parser: None, run=lambda args: 0)

    plugins = make_plugins(Commands("hello"))
    assert plugins.commands()["hello"].owner == "test_plugin_0"
    clash = make_plugins(Commands("hello"), Commands("hello"))
    with pytest.raises(PluginError, match="command 'hello' is added by both"):
        clash.commands()


def test_a_command_group_shared_by_plugins(make_plugins):
    """Two plugins each add a subcommand of one group (as dvae and vqgan share ``genkit import``); each runs its
    own handler with its own arguments; a clash inside the group, or a group over a plain command, is an error."""
    ran = []

    class Source:
        def __init__(self, name, group="fetch", group_help="fetch things"):
            self.name, self.group, self.group_help = name, group, group_help

        @genkit.hookimpl
        def genkit_register_commands(self, cli):
            def setup(parser):
                parser.add_argument("path")

            cli.add_subcommand(
                self.group,
                self.name,
                help=f"fetch {self.name}",
                setup=setup,
                run=lambda args, name=self.name: ran.append((name, args.path)),
                group_help=self.group_help,
            )

    plugins = make_plugins(Source("alpha"), Source("beta", group_help="ignored: the first one counts"))
    group = plugins.commands()["fetch"]
    assert group.help == "fetch things (alpha, beta)" and set(group.subcommands) == {"alpha", "beta"}
    assert {sub.owner for sub in group.subcommands.values()} == {"test_plugin_0", "test_plugin_1"}
    from genkit.cli import build_parser

    args = build_parser(plugins).parse_args(["fetch", "beta", "x.bin"])
    args.handler(args)
    assert ran == [("beta", "x.bin")]
    with pytest.raises(SystemExit):
        build_parser(plugins).parse_args(["fetch"])  # a group needs its subcommand (argparse usage error)
    with pytest.raises(PluginError, match="command fetch 'alpha' is added by both"):
        make_plugins(Source("alpha"), Source("alpha")).commands()

    class Plain:
        @genkit.hookimpl
        def genkit_register_commands(self, cli):
            cli.add_command("fetch", help="plain", setup=lambda parser: None, run=lambda args: 0)

    with pytest.raises(PluginError, match="command 'fetch' of 'test_plugin_0' is not a group"):
        make_plugins(Plain(), Source("alpha")).commands()

"""Registries: built-ins, entry-point plugins from a real (temporary) distribution, errors."""

from __future__ import annotations

import sys
import textwrap

import pytest

from hgbench.registry import Registry, UnknownNameError


@pytest.fixture
def plugin_distribution(tmp_path, monkeypatch):
    """An installed-looking distribution declaring hgbench.methods/hgbench.tasks entry points."""
    (tmp_path / "hgb_thirdparty.py").write_text(
        textwrap.dedent(
            """
            from hgbench.methods import METHODS
            FixedCls = METHODS.get("fixed")

            class SlowFixed(FixedCls):
                key = "slow_fixed"

            def my_task_factory(scale="small", **kw):
                from hgbench.tasks import TASKS
                return TASKS.get("sk_diabetes")(scale=scale, **kw)
            """
        )
    )
    dist = tmp_path / "hgb_thirdparty-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hgb-thirdparty\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[hgbench.methods]\nslow_fixed = hgb_thirdparty:SlowFixed\n\n"
        "[hgbench.tasks]\nmy_task = hgb_thirdparty:my_task_factory\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("hgb_thirdparty", None)


def test_entry_point_plugins_are_listed_and_loaded(plugin_distribution) -> None:
    methods = Registry("method", "hgbench.methods")
    assert "slow_fixed" in methods.names()  # (other installed plugins may be listed too)
    assert methods.builtin_names() == []
    assert methods.get("slow_fixed").key == "slow_fixed"
    tasks = Registry("task", "hgbench.tasks")
    assert tasks.get("my_task")(scale="small").key == "sk_diabetes"


def test_benchmark_cases_cover_plugins(plugin_distribution, monkeypatch) -> None:
    from hgbench.bench import regression

    fresh = Registry("method", "hgbench.methods", ("hgbench.methods.fixed",))
    monkeypatch.setattr(regression, "METHODS", fresh)
    ids = [c.id for c in regression.cases()]
    assert "slow_fixed@sk_diabetes" in ids


def test_unknown_name_lists_valid_names_and_suggests() -> None:
    reg: Registry = Registry("widget", "hgbench.nonexistent_group")
    reg.register("alpha")(object)
    reg.register("beta")(object)
    with pytest.raises(UnknownNameError) as err:
        reg.get("alpah")
    msg = str(err.value)
    assert "Did you mean alpha" in msg and "alpha, beta" in msg and "widget" in msg


def test_duplicate_registration_is_an_error() -> None:
    reg: Registry = Registry("widget", "hgbench.nonexistent_group")
    reg.register("a")(object)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(object)


def test_a_misspelt_builtin_module_is_an_import_error() -> None:
    reg: Registry = Registry("method", "hgbench.nonexistent_group", ("hgbench.methods.fixd",))
    with pytest.raises(ImportError, match="built-in method module 'hgbench.methods.fixd'"):
        reg.names()
    with pytest.raises(ImportError, match="hgbench.methods.fixd"):  # not silently empty later
        reg.get("fixed")


def test_a_builtin_module_with_a_broken_import_is_an_import_error(tmp_path, monkeypatch) -> None:
    (tmp_path / "hgb_broken_builtin.py").write_text("import hgb_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry = Registry("task", "hgbench.nonexistent_group", ("hgb_broken_builtin",))
    with pytest.raises(ImportError, match="'hgb_broken_builtin'.*hgb_no_such_dependency"):
        reg.names()


def test_every_builtin_module_of_the_real_registries_imports() -> None:
    from hgbench.methods import METHODS
    from hgbench.tasks import TASKS

    for registry in (METHODS, TASKS):
        registry.names()
        assert registry.builtin_modules and all(m in sys.modules for m in registry.builtin_modules)


def test_a_plugin_that_fails_to_load_names_itself(tmp_path, monkeypatch) -> None:
    dist = tmp_path / "hgb_badplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hgb-badplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[hgbench.methods]\nbad = hgb_missing_module:Bad\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="method plugin 'bad' = 'hgb_missing_module:Bad'"):
        Registry("method", "hgbench.methods").names()


def test_the_cli_refuses_a_misspelt_command_module(monkeypatch) -> None:
    from hgbench import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("hgbench.bench.cli", "hgbench.reports.clii"))
    with pytest.raises(ImportError, match="hgbench.reports.clii"):
        cli.build_parser()

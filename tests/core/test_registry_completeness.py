"""Registries whose members are imported lazily must agree with their lazy tables.

Targets, backends and backend configs register themselves when their module is imported, and the module is
found through a name -> module table. A member added to one place and not the other would be unreachable by
name (or its manifest section unreadable), so these tests import every table entry and compare. Bench peers
are run by a worker process that looks its engine up by the same name. (Architectures and recipes have their
own completeness tests: see CONTRIBUTING.md.)
"""

from __future__ import annotations

from edgekit.runtime.backends import BACKEND_MODULES, BACKENDS, get_backend
from edgekit.runtime.backends.configs import CONFIG_MODULES, CONFIGS, config_class


def test_every_backend_module_registers_its_backend_and_its_config():
    assert set(CONFIG_MODULES) == set(BACKEND_MODULES)
    for name in BACKEND_MODULES:
        assert get_backend(name).name == name
        config = config_class(name)
        assert config is not None and config.backend == name
    # nothing registered outside the lazy tables (it would be reachable only after someone imported it)
    assert BACKENDS.names() == sorted(BACKEND_MODULES)
    assert CONFIGS.names() == sorted(CONFIG_MODULES)


def test_every_target_module_registers_its_target_and_names_its_extra():
    from edgekit.exporters.pipeline import _TARGET_EXTRAS, TARGET_MODULES, load_target
    from edgekit.exporters.recipes import RECIPES
    from edgekit.exporters.target_registry import TARGETS

    assert set(_TARGET_EXTRAS) == set(TARGET_MODULES)
    for name in TARGET_MODULES:
        assert load_target(name).name == name
        assert any(recipe.supports_target(name) for _, recipe in RECIPES.items()), f"no recipe builds {name!r}"
    assert TARGETS.names() == sorted(TARGET_MODULES)


def test_every_registered_target_has_a_typed_options_class():
    """Every target's -o options are a frozen TargetOptions dataclass whose every field is typed, documented
    and constructible with its defaults (so the CLI can parse, check and list them)."""
    import dataclasses

    from edgekit.exporters.pipeline import TARGET_MODULES, load_target
    from edgekit.exporters.target_options import VALUE_TYPES, TargetOptions
    from edgekit.exporters.target_registry import TARGETS

    for name in TARGET_MODULES:
        load_target(name)
    for name, target in TARGETS.items():
        options_type = target.options_type
        assert isinstance(options_type, type) and issubclass(options_type, TargetOptions), name
        assert options_type is not TargetOptions and options_type.target_name == name
        assert dataclasses.is_dataclass(options_type) and options_type.__dataclass_params__.frozen
        infos = options_type.infos()  # raises for a field declared without option(help=...) or of an unknown type
        assert [info.name for info in infos] == list(options_type.names())
        for info in infos:
            assert info.help.strip(), (name, info.name)
            assert info.value_type.name in VALUE_TYPES
            assert info.default is not None or info.default_text, (name, info.name, "say what None means")
        assert target.parse_options({}) == options_type()


def test_every_bench_engine_has_a_worker():
    from edgekit.sdk.bench import worker
    from edgekit.sdk.bench.engines import EDGEKIT, PEERS

    assert {EDGEKIT.name, *PEERS.names()} == set(worker.ENGINES)

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from edgekit.runtime import errors
from edgekit.runtime.registry import Registry


def test_unknown_name_lists_sorted_known_names():
    reg: Registry[int] = Registry("widget")
    reg.add("zeta", 1)
    reg.add("alpha", 2)
    with pytest.raises(errors.UnknownNameError) as info:
        reg.get("beta")
    assert str(info.value) == "unknown widget 'beta'; known widgets: alpha, zeta"
    assert reg.names() == ["alpha", "zeta"]


def test_duplicate_registration_is_a_programming_error():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    with pytest.raises(ValueError):
        reg.add("a", 2)


def test_every_public_error_derives_from_the_root():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.EdgekitError), name


def test_error_tree_docstring_names_every_error():
    for name in errors.__all__:
        assert name in errors.__doc__, f"{name} missing from the documented tree"


def test_cli_turns_edgekit_errors_into_one_clean_line(monkeypatch):
    from edgekit.sdk import cli

    @click.command()
    def boom():
        raise errors.IntegrityError("bundle file 'model.onnx' fails its sha256 check; re-export")

    monkeypatch.setitem(cli.COMMANDS, "boom", "tests.core.test_registry_and_errors:_unused")
    monkeypatch.setattr(cli.LazyGroup, "get_command", lambda self, ctx, name: boom if name == "boom" else None)
    result = CliRunner().invoke(cli.main, ["boom"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: bundle file 'model.onnx' fails its sha256 check; re-export"
    assert "Traceback" not in result.output


def test_dependency_error_names_the_extra():
    err = errors.DependencyError("edgekit export", "export", missing="torch")
    assert "pip install 'edgekit[export]'" in str(err) and "'torch'" in str(err)

"""The public API is exactly __all__ (httpx's tests/test_exports.py pattern)."""

from __future__ import annotations

import re
import types

import edgekit.runtime as runtime
from edgekit.runtime import errors, sampler


def test_all_names_exist():
    missing = [name for name in runtime.__all__ if not hasattr(runtime, name)]
    assert missing == []


def test_every_public_name_is_in_all():
    public = {
        name
        for name, value in vars(runtime).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"
    }
    assert public == set(runtime.__all__)


def test_all_has_no_duplicates():
    assert len(runtime.__all__) == len(set(runtime.__all__))


def test_every_error_is_in_the_tree_and_its_diagram():
    """Each class of errors.__all__ descends from EdgekitError and appears in the module's tree diagram under
    its first base (the diagram is the documentation of the tree)."""
    diagram = errors.__doc__ or ""
    depth = {m.group(2): len(m.group(1)) for m in re.finditer(r"^(\s*(?:[│ ]   )*[├└]── )(\w+)", diagram, re.M)}
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.EdgekitError), name
        if cls is errors.EdgekitError:
            continue
        assert name in depth, f"{name} is missing from the tree diagram in errors.py"
        parent = cls.__bases__[0].__name__
        if parent != "EdgekitError":
            assert depth[name] > depth[parent], f"{name} is not drawn under {parent}"


def test_sampling_option_error_is_one_class_exported_with_the_other_errors():
    assert runtime.SamplingOptionError is errors.SamplingOptionError is sampler.SamplingOptionError
    assert issubclass(runtime.SamplingOptionError, runtime.RuntimeGenerationError)
    assert issubclass(runtime.SamplingOptionError, errors.ConfigError)
    exported_errors = {n for n in runtime.__all__ if isinstance(getattr(runtime, n), type) and n.endswith("Error")}
    assert "SamplingOptionError" in exported_errors and exported_errors <= set(errors.__all__)

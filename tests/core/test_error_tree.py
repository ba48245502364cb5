"""The error tree drawn at the top of runtime/edgekit/runtime/errors.py is the real class tree.

The classes are found statically (``ast``) in every module of the three roots, so an error class defined in the
exporters or the SDK is held to the drawing without importing torch: a class is an error when one of its bases is
(by name) ``EdgekitError`` or an error. Private classes (a leading underscore) are internal signals, never shown to a
user, and are not drawn. The drawing's parent of a class is its first base, "also a X" lists the
others, and ``[module]`` (without the ``edgekit.`` prefix) names where a class outside errors.py is defined.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from edgekit.runtime import errors

from tests.core.test_import_cycles import module_files

ROOT = "EdgekitError"
BRANCH = re.compile(r"^(?P<indent>(?:│   |    )*)[├└]── (?P<name>\w+)(?P<note>.*)$")
CONTINUATION = re.compile(r"^(?:│   |    )*│?\s+(?P<note>\S.*)$")
ALSO = re.compile(r"also an? (\w+)")
MODULE = re.compile(r"\[([\w.]+)\]")


@dataclass
class Drawn:
    parent: str
    note: str = ""
    also: set[str] = field(default_factory=set)
    module: str = "runtime.errors"


def drawn_tree(doc: str) -> dict[str, Drawn]:
    """class name -> its place in the drawing (the lines after the one that is just ``EdgekitError``)."""
    lines = [line.strip("\n")[4:] for line in doc.splitlines()]
    start = lines.index(ROOT)
    tree: dict[str, Drawn] = {}
    path = [ROOT]  # path[d] is the class drawn last at depth d
    last = None
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        branch = BRANCH.match(line)
        if branch:
            depth = len(branch["indent"]) // 4 + 1
            name = branch["name"]
            assert name not in tree, f"{name} is drawn twice"
            del path[depth:]
            tree[name] = last = Drawn(parent=path[depth - 1], note=branch["note"])
            path.append(name)
            continue
        continuation = CONTINUATION.match(line)
        assert continuation and last is not None, f"not a line of the tree: {line!r}"
        last.note += " " + continuation["note"]
    for drawn in tree.values():
        drawn.also = set(ALSO.findall(drawn.note))
        module = MODULE.search(drawn.note)
        if module:
            drawn.module = module[1]
    return tree


@dataclass(frozen=True)
class Defined:
    bases: tuple[str, ...]
    module: str


def defined_errors() -> dict[str, Defined]:
    """Every public class of the three roots that derives, by base name, from ``EdgekitError``."""
    classes: dict[str, list[Defined]] = {}
    for module, (path, _) in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                bases = tuple(b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases)
                classes.setdefault(node.name, []).append(Defined(bases, module.removeprefix("edgekit.")))
    found = {ROOT}
    grew = True
    while grew:
        new = {name for name, defs in classes.items() if any(set(d.bases) & found for d in defs)} - found
        found |= new
        grew = bool(new)
    found.discard(ROOT)
    out = {}
    for name in sorted(n for n in found if not n.startswith("_")):
        assert len(classes[name]) == 1, f"two error classes are named {name}: {classes[name]}"
        out[name] = classes[name][0]
    return out


def test_the_drawing_names_every_error_class_and_only_those():
    drawn, defined = set(drawn_tree(errors.__doc__ or "")), set(defined_errors())
    assert drawn - defined == set(), f"drawn in errors.py but not defined: {sorted(drawn - defined)}"
    assert defined - drawn == set(), f"defined but missing from the drawing in errors.py: {sorted(defined - drawn)}"


def test_each_drawn_parent_is_the_first_base_and_also_names_the_rest():
    drawn = drawn_tree(errors.__doc__ or "")
    for name, code in defined_errors().items():
        place = drawn[name]
        assert place.parent == code.bases[0], f"{name} is drawn under {place.parent}, its first base is {code.bases[0]}"
        assert place.also == set(code.bases[1:]), f"{name}: drawn 'also a' {sorted(place.also)}, bases {code.bases}"


def test_each_drawn_module_is_where_the_class_is_defined():
    drawn = drawn_tree(errors.__doc__ or "")
    for name, code in defined_errors().items():
        assert drawn[name].module == code.module, f"{name} is drawn in [{drawn[name].module}], defined in {code.module}"


def test_the_drawing_reader_sees_depth_continuations_and_notes():
    doc = """
    EdgekitError
    ├── A                 first
    │   └── B             under A (also a C)
    │                     [sdk.b]
    └── C
    """
    tree = drawn_tree(doc)
    assert {n: (d.parent, d.also, d.module) for n, d in tree.items()} == {
        "A": ("EdgekitError", set(), "runtime.errors"),
        "B": ("A", {"C"}, "sdk.b"),
        "C": ("EdgekitError", set(), "runtime.errors"),
    }

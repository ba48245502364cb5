"""The Java and web readers of edgekit.json read only what docs/edgekit.schema.json describes.

The keys are found in the readers' source: in BundleManifest.java every ``Json.require(obj, "key")``,
``obj.get("key")`` and ``str``/``num(obj, "key", fallback)``; in the web demo every property chain on the manifest
and on the variables that hold a part of it, the keys its destructurings take, the defaults ``pick('key')`` reads
and the keys ``parseManifest`` requires. Which part of the manifest a variable holds is the table below: a variable
missing from it fails the Java test, and a variable the table names but the file no longer uses fails too, so the
table cannot silently drift from the code. The keys a reader refuses a manifest without must be required by the
schema, or a manifest the schema accepts would be refused. The manifest both readers are tested with (the tiny
fp32 bundle) validates against the schema, and a manifest the readers would refuse does not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.android.manifest_schema import ITEMS, REPO, is_required, read_problem, validate_manifest

JAVA_READER = REPO / "android_demo" / "core" / "src" / "main" / "java" / "dev" / "edgekit" / "core" / "bundle"
JAVA_READER = JAVA_READER / "BundleManifest.java"
WEB_JS = REPO / "android_demo" / "web" / "js"

# BundleManifest.java: variable -> the part of edgekit.json it holds
JAVA_OBJECTS: dict[str, tuple[str, ...]] = {
    "data": (),
    "obj": (),
    "model": ("model",),
    "arch": ("architecture",),
    "f": ("files", ITEMS),
    "cfg": ("backend_config",),
    "cache": ("backend_config", "cache"),
    "context": ("context",),
    "tok": ("tokenizer",),
    "g": ("generation_defaults",),
}
JAVA_REQUIRE = re.compile(r'Json\.require\((\w+), "(\w+)"')
JAVA_GET = re.compile(r'(\w+)\)?\.get\("(\w+)"\)')
JAVA_HELPER = re.compile(r'\b(?:str|num)\((\w+), "(\w+)"')

# the web demo's readers: file -> expression -> the part of edgekit.json it holds
WEB_OBJECTS: dict[str, dict[str, tuple[str, ...]]] = {
    "bundle.js": {"data": (), "manifest": (), "entry": ("files", ITEMS), "f": ("files", ITEMS)},
    "engine.js": {
        "manifest": (),
        "this.manifest": (),
        "graph": ("backend_config",),
        "this.graph": ("backend_config",),
        "g": ("backend_config",),
        "this.cache": ("backend_config", "cache"),
        "f": ("files", ITEMS),
    },
    "chat.js": {"manifest": (), "tok": ("tokenizer",)},
}
CHAIN = r"((?:\??\.[A-Za-z_$][\w$]*)+)"
DESTRUCTURE = re.compile(r"const \{([^}]*)\} = ([\w.]+);")
PICK = re.compile(r"\bpick\('(\w+)'\)")
REQUIRED_LIST = re.compile(r"for \(const key of \[([^\]]*)\]\)")
COMMENT = re.compile(r"/\*.*?\*/|(?:^|(?<=\s))//[^\n]*", re.S)  # a // after a colon (a URL) stays


def code_of(path: Path) -> str:
    """The Java or JavaScript source without its comments (they name files such as manifest.py)."""
    return COMMENT.sub("", path.read_text(encoding="utf-8"))


def java_reads() -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(every key path BundleManifest.java reads, the ones it requires)."""
    source = code_of(JAVA_READER)
    reads: set[tuple[str, ...]] = set()
    required: set[tuple[str, ...]] = set()
    for pattern in (JAVA_REQUIRE, JAVA_GET, JAVA_HELPER):
        for var, key in pattern.findall(source):
            assert var in JAVA_OBJECTS, (
                f"BundleManifest.java reads {key!r} from {var!r}: add {var!r} (the part of edgekit.json it holds) "
                "to JAVA_OBJECTS"
            )
            reads.add((*JAVA_OBJECTS[var], key))
            if pattern is JAVA_REQUIRE:
                required.add((*JAVA_OBJECTS[var], key))
    for var in JAVA_OBJECTS:
        assert re.search(rf"\b{var}\b", source), f"JAVA_OBJECTS names {var!r}, which BundleManifest.java no longer uses"
    return reads, required


def _chain(part: tuple[str, ...], chain: str) -> tuple[str, ...]:
    return (*part, *(name for name in re.split(r"\??\.", chain) if name))


def _part_of(expr: str, objects: dict[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    """The key path ``expr`` (``this.manifest.tokenizer``) stands for, through the longest variable it starts with."""
    for name in sorted(objects, key=len, reverse=True):
        if expr == name or expr.startswith(name + "."):
            return _chain(objects[name], expr[len(name) :])
    return None


def web_reads() -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(every key path the web demo's readers read, the ones parseManifest requires)."""
    reads: set[tuple[str, ...]] = set()
    required: set[tuple[str, ...]] = set()
    for name, objects in WEB_OBJECTS.items():
        source = code_of(WEB_JS / name)
        for expr, part in objects.items():
            found = re.findall(rf"(?<![\w.$]){re.escape(expr)}{CHAIN}", source)
            assert found, f"WEB_OBJECTS names {expr!r} in {name}, which no longer reads the manifest through it"
            reads |= {_chain(part, chain) for chain in found}
        for names, expr in DESTRUCTURE.findall(source):
            base = _part_of(expr, objects)
            if base is not None:  # else not a part of the manifest (``const { manifest, files } = bundle``)
                reads |= {(*base, item.split(":")[0].strip()) for item in names.split(",")}
        reads |= {("generation_defaults", key) for key in PICK.findall(source)}
        for listed in REQUIRED_LIST.findall(source):
            keys = {(key,) for key in re.findall(r"'(\w+)'", listed)}
            reads |= keys
            required |= keys
    return reads, required


def test_the_key_finders_see_what_the_readers_read():
    java, java_required = java_reads()
    web, web_required = web_reads()
    for path in [
        ("format",),
        ("schema_version",),
        ("backend_config", "cache", "num_layers"),
        ("tokenizer", "eos_ids"),
        ("files", ITEMS, "sha256"),
        ("generation_defaults", "top_p"),
        ("chat_template",),
    ]:
        assert path in java and path in web, path
    assert ("backend_config", "cache", "past_key", "replace") in web  # a chain runs on into the value's members
    assert ("tokenizer", "bos_id") in web and ("backend_config", "cache", "head_dim") in web  # destructured
    assert ("context", "max_context") in java_required and ("tokenizer",) in web_required


@pytest.mark.parametrize("reader", ["java", "web"])
def test_every_key_a_reader_reads_is_in_the_schema(reader):
    reads, _ = java_reads() if reader == "java" else web_reads()
    problems = sorted(f"{'.'.join(path)}: {why}" for path in reads if (why := read_problem(path)))
    assert not problems, f"the {reader} reader reads keys docs/edgekit.schema.json does not describe: {problems}"


@pytest.mark.parametrize("reader", ["java", "web"])
def test_every_key_a_reader_requires_is_required_by_the_schema(reader):
    _, required = java_reads() if reader == "java" else web_reads()
    optional = sorted(".".join(path) for path in required if not is_required(path))
    assert not optional, f"the {reader} reader refuses manifests without {optional}, which the schema lets out"


def test_the_key_checks_can_fail():
    assert read_problem(("backend_config", "cache", "num_layer")) is not None  # a typo
    assert read_problem(("files", "size")) is not None  # an array read as an object
    assert read_problem(("recipe", "bits")) is not None  # a free-form object names no keys
    assert read_problem(("backend_config", "cache", "past_key", "replace")) is None
    assert is_required(("backend_config", "model_file")) and not is_required(("tokenizer", "bos_id"))


def test_the_readers_test_manifest_validates_against_the_schema(tiny_bundle, tmp_path: Path):
    """The bundle BundleManifestTest (and the web demo's vectors run) reads; a copy without a required key or with
    an unknown schema version, which both readers refuse, does not validate."""
    bundle = tiny_bundle("fp32")
    validate_manifest(bundle)
    broken = tmp_path / "broken"
    broken.mkdir()
    data = json.loads((bundle / "edgekit.json").read_text(encoding="utf-8"))
    for change in ({"schema_version": 99}, {"context": {}}):
        (broken / "edgekit.json").write_text(json.dumps({**data, **change}), encoding="utf-8")
        with pytest.raises(AssertionError, match="does not validate"):
            validate_manifest(broken)

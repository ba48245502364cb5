"""The documentation holds together: relative links resolve, and the README's commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) and [text](target "title"); images too. Reference-style links are not used in these files.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def relative_links(text: str) -> list[str]:
    """Link targets outside code, without a scheme (http:, mailto:) and not pure #anchors."""
    prose = INLINE_CODE.sub("", FENCE.sub("", text))
    out = []
    for target in LINK.findall(prose):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path:
            continue
        out.append(unquote(parts.path))
    return out


def readme_commands() -> list[str]:
    """The commands in the first code block under the README's "## Two commands" heading."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Two commands", 1)[1]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    assert block, "README.md: no code block under '## Two commands'"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.split("#", 1)[0].strip()]


def test_link_finder_sees_links_and_skips_code_and_urls():
    text = (
        'See [a](docs/a.md), [b](../b.md#part "t"), [web](https://x.org/y.md), [anchor](#top).\n'
        "`[not](code.md)`\n```\n[nor](fenced.md)\n```\n"
    )
    assert relative_links(text) == ["docs/a.md", "../b.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_an_existing_file(doc):
    assert doc.is_file(), doc
    broken = [t for t in relative_links(doc.read_text(encoding="utf-8")) if not (doc.parent / t).exists()]
    assert not broken, f"{doc.relative_to(ROOT)} links to missing files: {broken}"


def test_docs_folder_has_the_pages_the_readme_promises():
    linked = {Path(t).name for t in relative_links((ROOT / "README.md").read_text(encoding="utf-8"))}
    for page in ("architecture.md", "export.md", "runtime.md", "hybrid.md", "raspberry-pi.md", "android.md"):
        assert page in linked, f"README.md does not link docs/{page}"


def test_readme_commands_are_the_demo_and_the_ci_test_command():
    assert readme_commands() == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    for command in readme_commands():
        assert (ROOT / command.split()[1]).is_file(), command
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    runs = [line for line in ci if line and not line.startswith("#") and "scripts/" in line]
    assert runs == ["exec bash scripts/test.sh"], f".ci/run must run exactly the README's test command, runs {runs}"


def test_test_script_lints_before_pytest():
    script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    check = lines.index(".venv/bin/python -m ruff check .")
    fmt = lines.index(".venv/bin/python -m ruff format --check .")
    pytest_line = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert check < fmt < pytest_line
    # set -e must be on while ruff runs, so a lint failure ends the run
    assert lines.index("set -euo pipefail") < check and "set +e" not in lines[:fmt]


NOT_OURS = re.compile(r"findings|\.\./shared|/work/shared|\bissue [0-9]|\(issue\b|issue's", re.I)
SOURCE_SUFFIXES = {".py", ".md", ".sh", ".js", ".java", ".toml", ".html", ".json", ".mjs", ".yaml"}
SKIP_DIRS = {".git", ".venv", "node_modules", ".cache", "__pycache__", "bundles", "build", "dist"}


def test_no_references_to_notes_outside_the_repository():
    """Code and docs stand alone: no pointers to notes, issue numbers or folders outside the project."""
    hits = []
    this = Path(__file__).resolve()
    for path in ROOT.rglob("*"):
        if path.suffix not in SOURCE_SUFFIXES or not path.is_file() or path.resolve() == this:
            continue
        if SKIP_DIRS.intersection(path.relative_to(ROOT).parts):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if NOT_OURS.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert not hits, "\n".join(hits)

"""Bytecode caches for edgekit's own modules before any timed run.

A pip-installed package is compiled to ``__pycache__`` when it is installed, so a user's process never compiles
its sources. An editable checkout is compiled lazily by the first import, and not at all when
``PYTHONDONTWRITEBYTECODE`` is set: then every process compiles edgekit's modules again. Measured on the default
bundle (2-core x86_64): importing ``edgekit.runtime`` took 69-81 ms without caches and 44-52 ms with them, and
``load`` 330-400 ms against 315-330 ms (jinja2's template machinery is compiled the same way), about 60-110 ms of
cold start that a real install never pays. The peers are pip-installed wheels, so compiling edgekit's caches
first is what puts every engine on the same footing.

``compileall`` writes the caches where the interpreter reads them (``sys.pycache_prefix`` included) whatever
``PYTHONDONTWRITEBYTECODE`` says, and leaves up-to-date ones alone.
"""

from __future__ import annotations

import compileall
import importlib.util
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BytecodeState", "compile_edgekit"]


@dataclass(frozen=True)
class BytecodeState:
    modules: int  # edgekit source files found
    missing: int  # of them without an up-to-date cache before this call
    failed: bool  # compileall could not write some cache (a read-only install): cold start includes compiling

    def note(self) -> str:
        if self.failed:
            return (
                f"edgekit's bytecode caches could not all be written ({self.missing} of {self.modules} modules had "
                "none): edgekit's cold start includes compiling its sources, which a pip install never does"
            )
        if self.missing:
            return (
                f"edgekit's modules were compiled to bytecode before the timed runs ({self.missing} of "
                f"{self.modules} had no cache), as a pip install compiles them: no engine compiles its sources "
                "while it is timed"
            )
        return f"edgekit's {self.modules} modules had bytecode caches before the timed runs"


def _stale(source: Path) -> bool:
    try:
        cached = Path(importlib.util.cache_from_source(str(source)))
        return cached.stat().st_mtime < source.stat().st_mtime
    except (OSError, NotImplementedError, ValueError):
        return True


def compile_edgekit(roots: list[Path] | None = None) -> BytecodeState:
    """Compile every module under ``roots`` (default: the ``edgekit`` namespace package's folders)."""
    if roots is None:
        import edgekit

        roots = [Path(p) for p in edgekit.__path__]
    sources = [path for root in roots for path in root.rglob("*.py")]
    missing = sum(_stale(path) for path in sources)
    ok = True
    if missing:
        for root in roots:
            ok = bool(compileall.compile_dir(str(root), quiet=2, workers=1)) and ok
    return BytecodeState(modules=len(sources), missing=missing, failed=not ok)

"""Remember which bundle files passed their sha256 check, so the next load of an unchanged file skips the hash.

Hashing the default bundle costs ~80 ms of a ~0.6 s cold start. A file is
trusted again only when its stat identity (device, inode, size, mtime and
ctime in ns) equals the one recorded right after its hash matched the
manifest, and the recorded digest is the one the manifest asks for now.
Writing to a file moves its ctime, which user code cannot set back
(``utime`` sets atime/mtime only), so a file modified after its check misses
the record and is hashed again. This is git's index trick (stat data instead
of re-hashing); like git, a file changed within the timestamp granularity of
its own check could keep its identity ("racy git",
``Documentation/technical/racy-git.txt``), so files changed less than
``SETTLE_S`` before the check are not recorded.

Where: ``$EDGEKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/edgekit``, else
``~/.cache/edgekit``; one small JSON file. A cache that cannot be read or
written costs only the hash, never a failed load.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

__all__ = ["VerifiedFiles", "cache_dir", "SETTLE_S"]

SETTLE_S = 2.0  # coarse kernel timestamps tick in jiffies (1-10 ms); two seconds leaves no doubt
_MAX_ENTRIES = 256  # a device holds a handful of bundles; the oldest records go first
_FILE = "verified-files.json"
_lock = threading.Lock()


def cache_dir() -> Path:
    if os.environ.get("EDGEKIT_CACHE_DIR"):
        return Path(os.environ["EDGEKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgekit"


def _identity(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


class VerifiedFiles:
    """The record of files whose hash matched; ``trusted`` asks, ``remember`` adds, ``save`` writes."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / _FILE
        self._entries: dict[str, dict] = {}
        self._dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                self._entries = {k: v for k, v in data.items() if isinstance(v, dict)}
        except (OSError, ValueError):
            pass

    def trusted(self, path: Path, stat: os.stat_result, sha256: str) -> bool:
        entry = self._entries.get(str(path.resolve()))
        return bool(entry) and entry.get("identity") == _identity(stat) and entry.get("sha256") == sha256

    def remember(self, path: Path, stat: os.stat_result, sha256: str, checked_at: float) -> None:
        if checked_at - max(stat.st_mtime_ns, stat.st_ctime_ns) / 1e9 < SETTLE_S:
            return  # changed just before its check: a same-tick change could keep the identity
        self._entries[str(path.resolve())] = {"identity": _identity(stat), "sha256": sha256, "at": checked_at}
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return
        entries = sorted(self._entries.items(), key=lambda kv: kv[1].get("at", 0))[-_MAX_ENTRIES:]
        with _lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".verified-", suffix=".json")
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(dict(entries), handle)
                os.replace(tmp, self.path)  # atomic: a concurrent reader sees the old or the new record
            except OSError:
                return
        self._dirty = False

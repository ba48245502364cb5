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

Threat model. The record says "skip the hash of this file", so a forged
record would let a tampered file run unverified. Every entry therefore
carries an HMAC-SHA256 (RFC 2104, Python's ``hmac``) over the file's real
path, its stat identity and the sha256 the manifest expects, keyed by a
per-user 32-byte secret that never sits beside the record:

- the key file (``$EDGEKIT_KEY_FILE``, else ``$XDG_CONFIG_HOME/edgekit/
  verified-files.key``, else ``~/.config/edgekit/verified-files.key``) is
  created with ``O_EXCL`` and mode 0600 in a 0700 folder; it is used only if
  it is a regular file (not a symlink) owned by this user and readable by
  nobody else. Otherwise the record is ignored and every file is hashed
  (``VerifiedFiles.disabled`` says why): never a failed load, never a skip;
- so whoever can write the record (a shared or world-writable cache folder,
  a restored backup, another user) but cannot read the key cannot make an
  entry this process accepts, and an entry made for one manifest digest, file
  or identity does not vouch for another;
- out of scope: an attacker who can read the key runs as this user (or root)
  and could edit the bundle and its manifest directly; a file swapped between
  its check and the engine opening it needs write access to the bundle folder
  during the load.

Record: ``$EDGEKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/edgekit``, else
``~/.cache/edgekit``; one small JSON file. A record or key that cannot be
read or written costs only the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat as stat_module
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["VerifiedFiles", "cache_dir", "key_path", "SETTLE_S"]

SETTLE_S = 2.0  # coarse kernel timestamps tick in jiffies (1-10 ms); two seconds leaves no doubt
_MAX_ENTRIES = 256  # a device holds a handful of bundles; the oldest records go first
_FILE = "verified-files.json"
_KEY_FILE = "verified-files.key"
_KEY_BYTES = 32  # HMAC-SHA256 key as long as its output (RFC 2104 section 3)
_MAC_VERSION = "edgekit-verified-v1"
_lock = threading.Lock()


def cache_dir() -> Path:
    if os.environ.get("EDGEKIT_CACHE_DIR"):
        return Path(os.environ["EDGEKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgekit"


def key_path() -> Path:
    """Where the per-user HMAC key lives: a config folder, never the cache folder that holds the record."""
    if os.environ.get("EDGEKIT_KEY_FILE"):
        return Path(os.environ["EDGEKIT_KEY_FILE"])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "edgekit" / _KEY_FILE


def _identity(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def _read_key(path: Path) -> tuple[bytes | None, str]:
    """(key, "") or (None, why it cannot be used). Creates the key on first use."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return _create_key(path)
    except OSError as exc:
        return None, f"key file {str(path)!r} cannot be opened ({exc.strerror}); remove it or fix its permissions"
    try:
        info = os.fstat(fd)
        if not stat_module.S_ISREG(info.st_mode):
            return None, f"key file {str(path)!r} is not a regular file; remove it"
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            return None, f"key file {str(path)!r} belongs to another user (uid {info.st_uid}); remove it"
        if info.st_mode & 0o077:
            return None, (
                f"key file {str(path)!r} is readable or writable by others (mode {info.st_mode & 0o777:o}); "
                f"chmod 600 it, or remove it to have a new one made"
            )
        key = os.read(fd, _KEY_BYTES + 1)
    except OSError as exc:
        return None, f"key file {str(path)!r} cannot be read ({exc.strerror})"
    finally:
        os.close(fd)
    if len(key) != _KEY_BYTES:
        return None, f"key file {str(path)!r} holds {len(key)} bytes, not {_KEY_BYTES}; remove it"
    return key, ""


def _create_key(path: Path) -> tuple[bytes | None, str]:
    key = secrets.token_bytes(_KEY_BYTES)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:  # another process made it meanwhile: use theirs
        return _read_key(path)
    except OSError as exc:
        return None, f"key file {str(path)!r} cannot be created ({exc.strerror})"
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    return key, ""


class VerifiedFiles:
    """The record of files whose hash matched; ``trusted`` asks, ``remember`` adds, ``save`` writes.

    ``disabled``: why the record is not used ("" when it is); then ``trusted`` is always False.
    """

    def __init__(self, path: Path | None = None, key_file: Path | None = None):
        self.path = path or cache_dir() / _FILE
        self._entries: dict[str, dict[str, Any]] = {}
        self._dirty = False
        self._key, self.disabled = _read_key(key_file or key_path())
        if self._key is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                self._entries = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)}
        except (OSError, ValueError):
            pass

    def _mac(self, real_path: str, identity: str, sha256: str) -> str:
        message = "\0".join((_MAC_VERSION, real_path, identity, sha256)).encode("utf-8", "surrogateescape")
        return hmac.new(self._key or b"", message, hashlib.sha256).hexdigest()

    def trusted(self, path: Path, stat: os.stat_result, sha256: str) -> bool:
        if self._key is None:
            return False
        real = str(path.resolve())
        entry = self._entries.get(real)
        if not entry or entry.get("identity") != _identity(stat) or entry.get("sha256") != sha256:
            return False
        mac = entry.get("mac")
        return isinstance(mac, str) and hmac.compare_digest(mac, self._mac(real, _identity(stat), sha256))

    def remember(self, path: Path, stat: os.stat_result, sha256: str, checked_at: float) -> None:
        if self._key is None:
            return
        if checked_at - max(stat.st_mtime_ns, stat.st_ctime_ns) / 1e9 < SETTLE_S:
            return  # changed just before its check: a same-tick change could keep the identity
        real = str(path.resolve())
        identity = _identity(stat)
        self._entries[real] = {
            "identity": identity,
            "sha256": sha256,
            "at": checked_at,
            "mac": self._mac(real, identity, sha256),
        }
        self._dirty = True

    def save(self) -> None:
        if not self._dirty:
            return

        def age(item: tuple[str, dict[str, Any]]) -> float:
            at = item[1].get("at", 0)
            return at if isinstance(at, (int, float)) and not isinstance(at, bool) else 0.0

        entries = sorted(self._entries.items(), key=age)[-_MAX_ENTRIES:]
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

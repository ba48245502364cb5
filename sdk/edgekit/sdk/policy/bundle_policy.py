"""The escalation policy a bundle carries: ``policy.json`` beside the model, listed in edgekit.json (role "policy").

``edgekit calibrate --into-bundle`` writes it. ``HybridClient``, ``edgekit ask``/``chat``/``serve`` (and the web
demo through ``/policy.json``) use it when no policy is given; an explicit policy always wins. The file is listed
with its size and sha256 like every bundle file, so ``load`` checks it with the rest, and it is checked again when
it is read: a policy swapped after the bundle was loaded is refused, never used.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from edgekit.runtime.bundle_paths import resolve_in_bundle
from edgekit.runtime.errors import IntegrityError
from edgekit.runtime.manifest import MANIFEST_NAME, Manifest, file_entry, read_manifest, sha256_file

from .policy import Policy

__all__ = ["POLICY_ROLE", "POLICY_FILENAME", "bundle_policy_path", "bundle_policy", "attach_policy"]

POLICY_ROLE = "policy"  # FileEntry.role of the bundle's policy file
POLICY_FILENAME = "policy.json"


def bundle_policy_path(folder: str | os.PathLike[str], manifest: Manifest | None = None) -> Path | None:
    """The bundle's policy file after checking its size and sha256, or None when the bundle carries none."""
    folder = Path(folder)
    manifest = manifest if manifest is not None else read_manifest(folder)
    entries = [entry for entry in manifest.files if entry.role == POLICY_ROLE]
    if not entries:
        return None
    if len(entries) > 1:
        names = ", ".join(repr(e.path) for e in entries)
        raise IntegrityError(f"edgekit.json lists {len(entries)} files with role 'policy' ({names}); keep one")
    entry = entries[0]
    path = resolve_in_bundle(folder, entry.path)
    if not path.is_file() or path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
        raise IntegrityError(
            f"the bundle's policy file {entry.path!r} is missing or fails its size/sha256 check (changed after "
            "the bundle was written); re-run `edgekit calibrate --into-bundle`, or pass a policy explicitly"
        )
    return path


def bundle_policy(folder: str | os.PathLike[str], manifest: Manifest | None = None) -> Policy | None:
    path = bundle_policy_path(folder, manifest)
    return None if path is None else Policy.load(path)


def _write_beside(folder: Path, target: Path, text: str) -> None:
    """Write ``text`` to ``target`` by renaming a finished file over it. The temporary file lives in the bundle's
    parent folder: an unlisted file inside the bundle would make ``load`` refuse it while it exists."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def attach_policy(folder: str | os.PathLike[str], policy: Policy) -> Path:
    """Write ``policy`` into the bundle as policy.json and list it in edgekit.json (replacing an earlier one)."""
    import json

    folder = Path(folder)
    manifest = read_manifest(folder)
    target = folder / POLICY_FILENAME
    _write_beside(folder, target, json.dumps(policy.to_dict(), indent=2) + "\n")
    kept = [e for e in manifest.files if e.role != POLICY_ROLE and e.path != POLICY_FILENAME]
    updated = replace(manifest, files=[*kept, file_entry(folder, POLICY_FILENAME, POLICY_ROLE)])
    _write_beside(folder, folder / MANIFEST_NAME, json.dumps(updated.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return target

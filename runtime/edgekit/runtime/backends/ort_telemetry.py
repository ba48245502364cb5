"""onnxruntime's telemetry, kept off.

onnxruntime 1.32 on Linux ships 1DS telemetry that is on by default: at
``import onnxruntime`` it writes a persistent device id and an SQLite event
queue under ``$XDG_CACHE_HOME`` or ``~/.cache`` (measured with 1.32.0:
``~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}``),
and queues session/model events for upload. Two switches exist
(https://github.com/microsoft/onnxruntime/pull/27379, docs/Privacy.md):

- ``ORT_DISABLE_TELEMETRY=1`` in the environment *before* the native library
  initializes (the import) is the full opt-out: no device id, no database, no
  uploader. The decision is latched for the process lifetime.
- ``onnxruntime.disable_telemetry_events()`` after import stops events but the
  device id and database already exist.

edgekit sets the variable (unless the user set it: ``ORT_DISABLE_TELEMETRY=0``
opts back in) when ``edgekit.runtime`` is imported, which is before any edgekit
code imports onnxruntime, and also calls ``disable_telemetry_events()`` when it
opens a session, for a process that imported onnxruntime first.
onnxruntime-genai (the bench's reference engine) reads the same variable.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["ORT_TELEMETRY_ENV", "keep_telemetry_off", "disable_session_telemetry"]

ORT_TELEMETRY_ENV = "ORT_DISABLE_TELEMETRY"


def keep_telemetry_off() -> None:
    """Set ORT_DISABLE_TELEMETRY=1 unless the user chose a value; must run before ``import onnxruntime``."""
    os.environ.setdefault(ORT_TELEMETRY_ENV, "1")


def disable_session_telemetry(ort: Any) -> None:
    """Stop onnxruntime's telemetry events in a process that may have imported it before edgekit."""
    if os.environ.get(ORT_TELEMETRY_ENV, "1") != "0":
        ort.disable_telemetry_events()

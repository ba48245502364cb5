"""A Hugging Face hub id -> a local folder, only when the hub is reachable.

Offline (HF_HUB_OFFLINE set, or huggingface.co not reachable within a few
seconds) this fails fast with a message that says to pass a local folder,
instead of hanging in retries.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

from edgekit.runtime.errors import SourceError

__all__ = ["looks_like_hub_id", "download_hub_model", "HUB_HOST"]

HUB_HOST = "huggingface.co"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "tokenizer*"]


def looks_like_hub_id(text: str) -> bool:
    return bool(_HUB_ID.match(text)) and not text.endswith(".gguf")


def _offline_reason(timeout: float) -> str | None:
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(variable, "").lower() in ("1", "true", "yes", "on"):
            return f"{variable} is set"
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return None
    except OSError as exc:
        return f"{HUB_HOST} is unreachable ({exc.strerror or exc})"


def download_hub_model(repo_id: str, cache_dir: Path | None = None, timeout: float = 3.0) -> Path:
    reason = _offline_reason(timeout)
    if reason is not None:
        raise SourceError(
            f"{repo_id!r} is not a local file or folder, and as a hub id it needs network access ({reason}); "
            "download the model elsewhere and pass its local folder (or a .gguf file, or 'default')"
        )
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=_PATTERNS, cache_dir=cache_dir))
    except RepositoryNotFoundError:
        raise SourceError(f"hub model {repo_id!r} does not exist (or is private); check the id") from None
    except (HfHubHTTPError, OSError) as exc:
        raise SourceError(f"downloading {repo_id!r} from the hub failed ({exc}); pass a local folder instead") from None

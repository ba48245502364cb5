"""Which Host and Origin headers `edgekit serve` answers (DNS rebinding and cross-site requests).

DNS rebinding: a page on ``evil.example`` re-points its own name at 127.0.0.1 and then talks to the local
server *same-origin*, so CORS never applies; the one thing it cannot forge is the ``Host`` header, which names
the attacker's domain. So a request whose Host is a name we were not told about is refused (the defence the
Chromium and Jupyter teams recommend; https://github.com/jupyter/notebook/issues/3714). IP literals are safe
(rebinding needs a domain), and so are loopback names and this machine's own host name.

Cross-site requests: a browser sends ``Origin``; only loopback pages, the server's own origin and the
``--allow-origin`` list may call the API, and only they get ``Access-Control-Allow-Origin`` (echoed, with
``Vary: Origin``), never ``*``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["OriginPolicy", "split_host"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
ANY_ORIGIN = "*"


def split_host(value: str) -> tuple[str, int | None] | None:
    """('name-or-ip', port) of a Host header value (``[::1]:8080`` style too), lower-cased; None if malformed."""
    value = value.strip().lower()
    if not value or any(c in value for c in " /\\@?#"):
        return None
    try:
        parts = urlsplit("//" + value)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    return (host, port) if host else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):  # RFC 6761 §6.3: *.localhost is loopback
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _machine_names() -> frozenset[str]:
    name = socket.gethostname().lower()
    short = name.split(".")[0]
    return frozenset({name, short, f"{short}.local"})  # mDNS name phones on the LAN use (raspberrypi.local)


@dataclass
class OriginPolicy:
    """``allowed_origins``: exact origins (``https://app.example``) or ``*``, from ``--allow-origin``."""

    allowed_origins: tuple[str, ...] = ()
    machine_names: frozenset[str] = field(default_factory=_machine_names)

    def __post_init__(self) -> None:
        self._origins = {o.rstrip("/").lower() for o in self.allowed_origins}
        self._extra_hosts = set()
        for origin in self._origins:
            if origin != ANY_ORIGIN:
                host = urlsplit(origin).hostname
                if host:
                    self._extra_hosts.add(host)

    def host_allowed(self, header: str | None) -> bool:
        """A missing Host (HTTP/1.0, raw sockets) is allowed: browsers always send one."""
        if header is None:
            return True
        parsed = split_host(header)
        if parsed is None:
            return False
        host = parsed[0]
        return _is_ip(host) or _is_loopback(host) or host in self.machine_names or host in self._extra_hosts

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        if origin is None:
            return True
        origin = origin.strip().rstrip("/").lower()
        if ANY_ORIGIN in self._origins or origin in self._origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False  # "null" (file://, sandboxed frames) unless --allow-origin null
        if _is_loopback(parts.hostname):
            return True
        # the page this server itself served (the web demo on a LAN address): same origin as the Host it used
        host = split_host(host_header or "")
        try:
            origin_port = parts.port
        except ValueError:
            return False
        return host is not None and host[0] == parts.hostname and host[1] == origin_port

"""`edgekit serve`: the on-device model behind an OpenAI-compatible HTTP API (stdlib server)."""

from .server import EdgekitServer, ServeOptions, model_id_for, serve_in_thread

__all__ = ["EdgekitServer", "ServeOptions", "serve_in_thread", "model_id_for"]

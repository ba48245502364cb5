"""edgekit.sdk: the hybrid client (local first, cloud when the device should) and the CLI."""

__version__ = "0.1.0"

__all__ = ["__version__"]

"""ExecuTorch export target (``--target executorch``) and its recipes (8da8w, 8da4w, ``-emb8``).

Importing this package registers the target and the recipes; it does not
import torch or executorch (that happens when a build starts, and a missing
``executorch`` extra is reported as ``DependencyError`` then).
"""

from .. import recipes  # noqa: F401  (registers every recipe, ExecuTorch's among them)
from .target import PROGRAM_FILE, ExecuTorchTarget, require_executorch

__all__ = ["ExecuTorchTarget", "PROGRAM_FILE", "require_executorch"]

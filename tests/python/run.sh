#!/bin/sh
# run.sh — the Python package's tests (pytest over tests/python), with Debian's python3 (or
# $GNF_PYTHON).  Ends with "N passed, N failed, N skipped"; when numpy or pytest is missing
# (Debian: python3-numpy, python3-pytest; tools/setup.sh installs them) it says so and counts
# one skip.  Extra arguments go to pytest (e.g. -k sdf).
cd "$(dirname "$0")/../.." || exit 1
PY=${GNF_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import numpy, pytest' >/dev/null 2>&1; then
  echo "skip  python: the Python package's tests need numpy and pytest for $PY (apt-get install python3-numpy python3-pytest)"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi
export PYTHONDONTWRITEBYTECODE=1
exec "$PY" -m pytest -p no:cacheprovider -p no:hypothesispytest -v -rs tests/python "$@"

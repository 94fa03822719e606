#!/bin/sh
# setup.sh — installs the Debian packages gnf needs to build and test, if any are missing.
# Uses apt-get (as root, or through sudo).  Safe to run again: installs nothing when all are there.
# OPTIONAL packages are installed when the package lists offer them, and a failure to install one
# is only a warning; without them the tests that need them are skipped.  python3-open3d lets
# tests/cli.sh check exported meshes with Open3D (Debian 12: 73 packages, about 80 MB to download
# and 320 MB installed next to the build packages, half a minute); ffmpeg lets it check
# `gnf render --video`.  clang-14 and libclang-rt-14-dev (libFuzzer) build the fuzz harnesses of
# `make fuzz` / `make fuzz-ci`; without them that step says it is skipped.  python3-numpy and
# python3-pytest let `make test` run the Python package's tests (tests/python), skipped without.
# chromium and nodejs run the browser viewer's tests (tests/browser: `npm ci` there, when npm is
# present, installs the pinned playwright-core from the npm registry); without them those tests
# say SKIPPED.
set -e
PKGS="gcc make libpng-dev libjpeg62-turbo-dev zlib1g-dev libcjson-dev"
OPTIONAL="python3-open3d ffmpeg clang-14 libclang-rt-14-dev"
# openmpi-bin (mpirun) and libopenmpi-dev (mpicc): `make mpi` and tests/mpi/run.sh (data-parallel fit)
OPTIONAL="$OPTIONAL openmpi-bin libopenmpi-dev"
OPTIONAL="$OPTIONAL python3-numpy python3-pytest"   # the Python package (python/gnf) and its tests
OPTIONAL="$OPTIONAL chromium nodejs"                # the browser viewer's tests (tests/browser)
# slurmctld, slurmd, slurm-client and munge: tests/slurm/run.sh starts a throw-away single-node
# Slurm (its own configuration, ports and munge key in a temporary folder; nothing in /etc used)
# and runs gnf fit-many as a job array; without them that test is skipped.
OPTIONAL="$OPTIONAL slurmctld slurmd slurm-client munge"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=""
for p in $PKGS; do installed "$p" || missing="$missing $p"; done
missing_opt=""
for p in $OPTIONAL; do
  installed "$p" || ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' ||
    missing_opt="$missing_opt $p"
done
# the browser tests' driver, pinned by tests/browser/package-lock.json (needs npm and the registry)
browser_deps() {
  d="$(dirname "$0")/../tests/browser"
  [ -d "$d/node_modules/playwright-core" ] || ! command -v npm >/dev/null 2>&1 ||
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error) ||
    echo "setup: npm ci in tests/browser failed; the browser tests will be skipped" >&2
}
[ -z "$missing$missing_opt" ] && { browser_deps; exit 0; }
echo "setup: installing$missing$missing_opt" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "setup: apt-get update failed; trying the cached package lists" >&2
# shellcheck disable=SC2086
[ -z "$missing" ] || $SUDO apt-get install -y -qq --no-install-recommends $missing
for p in $missing_opt; do
  $SUDO apt-get install -y -qq --no-install-recommends "$p" ||
    echo "setup: optional package $p not installed; the tests (or fuzzing) that need it will be skipped" >&2
done
browser_deps

#!/bin/sh
# setup.sh — installs the Debian packages gnf needs to build and test, if any are missing.
# Uses apt-get (as root, or through sudo).  Safe to run again: installs nothing when all are there.
# OPTIONAL packages are installed when the package lists offer them, and a failure to install one
# is only a warning; without them the tests that need them are skipped.  python3-open3d lets
# tests/cli.sh check exported meshes with Open3D (Debian 12: 73 packages, about 80 MB to download
# and 320 MB installed next to the build packages, half a minute); ffmpeg lets it check
# `gnf render --video`.  clang-14 and libclang-rt-14-dev (libFuzzer) build the fuzz harnesses of
# `make fuzz` / `make fuzz-ci`; without them that step says it is skipped.
set -e
PKGS="gcc make libpng-dev libjpeg62-turbo-dev zlib1g-dev libcjson-dev"
OPTIONAL="python3-open3d ffmpeg clang-14 libclang-rt-14-dev"
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
[ -z "$missing$missing_opt" ] && exit 0
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

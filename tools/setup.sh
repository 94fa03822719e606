#!/bin/sh
# setup.sh — installs the Debian packages gnf needs to build and test, if any are missing.
# Uses apt-get (as root, or through sudo).  Safe to run again: installs nothing when all are there.
set -e
PKGS="gcc make libpng-dev libjpeg62-turbo-dev zlib1g-dev libcjson-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "setup: installing$missing" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "setup: apt-get update failed; trying the cached package lists" >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

#!/usr/bin/env bash
# Install the Debian packages whose command is missing: ensure-debian-packages.sh CMD=PKG ...
set -euo pipefail
missing=()
for pair in "$@"; do
  cmd="${pair%%=*}"; pkg="${pair#*=}"
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

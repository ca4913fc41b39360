#!/usr/bin/env bash
# Installs the Debian packages flowtrain needs, only when some are missing (apt-get update first).
# Usage: tools/install_deps.sh [--runtime-extras | --test]   (matplotlib for charts; clang-format
# for the test command's format check)
set -euo pipefail
pkgs=(meson ninja-build pkg-config g++ libtbb-dev libturbojpeg0-dev libfmt-dev doctest-dev
      libtomlplusplus-dev libcli11-dev zlib1g-dev libdnnl-dev libpng-dev dataset-fashion-mnist
      openmpi-bin libopenmpi-dev libxxhash-dev python3)
if [[ "${1:-}" == "--runtime-extras" ]]; then pkgs+=(python3-matplotlib); fi
if [[ "${1:-}" == "--test" ]]; then pkgs+=(clang-format git); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then echo "error: run as root to install packages (or install them yourself)" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

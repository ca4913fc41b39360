#!/usr/bin/env bash
# Configures (once) and builds flowtrain into build/. CUDA code is compiled when nvcc is found.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/build.ninja ]]; then
  meson setup build --buildtype=release >/dev/null
fi
ninja -C build -j"$(nproc)" >/dev/null

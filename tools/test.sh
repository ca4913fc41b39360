#!/usr/bin/env bash
# The test command: install what is missing, build, run every test (no GPU and no torch needed).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
meson test -C build --print-errorlogs --num-processes "$(nproc)"

#!/usr/bin/env bash
# The test command: install what is missing, build, run every test (no GPU and no torch needed).
# Where nvcc exists, build/ includes the CUDA code, so the build without it (its stubs, which say
# "built without CUDA") is also compiled, into build-nocuda/, and checked to refuse device = "cuda".
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
tools/build.sh
meson test -C build --print-errorlogs --num-processes "$(nproc)"
if grep -q "FT_HAVE_CUDA" build/build.ninja; then
  [[ -f build-nocuda/build.ninja ]] || meson setup build-nocuda --buildtype=release -Dgpu=disabled >/dev/null
  ninja -C build-nocuda -j"$(nproc)" cli/flowtrain >/dev/null
  set +e
  msg=$(build-nocuda/cli/flowtrain run configs/tiny.toml --dry-run --set 'run.device="cuda"' 2>&1)
  rc=$?
  set -e
  if [[ $rc != 2 || $msg != *"built without CUDA"* ]]; then
    echo "build without CUDA: expected exit 2 and 'built without CUDA', got $rc: $msg" >&2
    exit 1
  fi
  echo "build without CUDA: compiles, and device = \"cuda\" is refused: $msg"
fi

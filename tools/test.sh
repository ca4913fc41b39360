#!/usr/bin/env bash
# The test command: install what is missing, check the sources follow .clang-format, build, run
# every test (no GPU and no torch needed).
# Where nvcc exists, build/ includes the CUDA code, so the build without it (its stubs, which say
# "built without CUDA") is also compiled, into build-nocuda/, and checked to refuse device = "cuda"
# and to say so in `flowtrain devices`; and the GPU check is packed from build/ and run dry (no
# GPU: it proves the libraries, paths, budget and output layout of `tools/gpu_check.sh run`).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh --test
tools/format.sh --check
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
  devices=$(build-nocuda/cli/flowtrain devices)
  if [[ $devices != "no usable GPU: this flowtrain was built without CUDA"* ]]; then
    echo "build without CUDA: flowtrain devices printed: $devices" >&2
    exit 1
  fi
  tools/gpu_check.sh pack >/dev/null
  tools/gpu_check.sh dry
fi

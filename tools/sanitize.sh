#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer too),
# built into build-asan/ without CUDA (device code is not instrumented, and CI has no GPU). The
# first report aborts the process that made it, so the test fails with the report in its log (and
# doctest names the test case).
# Extra arguments go to `meson test` (test names, --suite ...). On 2 cores (shared with other
# work when measured): 11 min to build from scratch (16 CPU-minutes), 1.3 min to run.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-asan
if [[ ! -f $build/build.ninja ]]; then
  # -O1 -g1: a third of -O2 -g's compile time, and the reports keep file:line. GCC's
  # -fsanitize=undefined leaves out float-cast-overflow (a double too large for the integer it is
  # converted to), the UB a config value is the most likely to reach. FT_ASSERTs stay on.
  meson setup "$build" --buildtype=plain -Dgpu=disabled -Db_sanitize=address,undefined \
    -Dcpp_args='-O1 -g1 -fno-omit-frame-pointer -fsanitize=float-cast-overflow' >/dev/null
fi
ninja -C "$build" -j"$(nproc)" >/dev/null
# No leak suppressions are needed (oneDNN, oneTBB and libgomp report none at exit); a leak report
# is flowtrain's. tools/ubsan.supp lists reports inside third-party headers, each with its reason.
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:check_initialization_order=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1:suppressions=$PWD/tools/ubsan.supp
start=$SECONDS
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes "$(nproc)" \
  --timeout-multiplier 4 "$@"
echo "sanitized test suite (ASan + UBSan + LSan): clean in $((SECONDS - start)) s"

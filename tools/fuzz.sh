#!/usr/bin/env bash
# The fuzz drivers of tests/fuzz/ run longer than the test suite's bounded runs: each target for
# SECONDS (default 60) from a random seed, printed at the start and with every finding together
# with the line that replays it. Usage: tools/fuzz.sh [SECONDS] [config|jpeg|all]
#   FT_FUZZ_SEED=N           fuzz from a chosen seed instead of a random one
#   FT_FUZZ_ONLY=I           replay input I of that seed only (SECONDS is then ignored)
#   FT_FUZZ_BUILD=build-asan fuzz the sanitized build (tools/sanitize.sh makes it): slower, but
#                            finds memory errors that do not crash
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
if [[ -z ${FT_FUZZ_ONLY:-} && ! $seconds =~ ^[0-9]*[1-9][0-9]*$ ]]; then
  echo "usage: tools/fuzz.sh [SECONDS > 0] [config|jpeg|all]" >&2
  exit 2
fi
which=${2:-all}
build=${FT_FUZZ_BUILD:-build-fuzz}
if [[ ! -f $build/build.ninja ]]; then
  if [[ $build == build-asan ]]; then
    echo "tools/fuzz.sh: build-asan/ is configured by tools/sanitize.sh; run that first" >&2
    exit 2
  fi
  meson setup "$build" --buildtype=release -Dgpu=disabled >/dev/null
fi
ninja -C "$build" -j"$(nproc)" tests/fuzz/test_fuzz >/dev/null
export FT_SOURCE_ROOT=$PWD OMP_NUM_THREADS=2
export FT_FUZZ_SECONDS=$seconds FT_FUZZ_SEED=${FT_FUZZ_SEED:-random}
if [[ $build == build-asan ]]; then
  export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1:suppressions=$PWD/tools/ubsan.supp
fi
status=0
for target in config jpeg; do
  [[ $which == all || $which == "$target" ]] || continue
  case $target in
    config) filter='fuzz: config*' ;;
    jpeg) filter='fuzz: JPEG*' ;;
  esac
  "$build/tests/fuzz/test_fuzz" --test-case="$filter" || status=1
done
exit $status

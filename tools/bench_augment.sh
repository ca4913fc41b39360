#!/bin/sh
# Augmentation benchmark: flowtrain's CPU ops (bench_augment, TBB, THREADS threads) beside the
# same torchvision transforms in a DataLoader with 2 workers (tools/bench_augment.py), per op and
# for the seed's training chain. Run from the repo root after building:
#   tools/bench_augment.sh [BUILD_DIR=build] [THREADS=2] [SECONDS=3]
set -eu
build=${1:-build}
threads=${2:-2}
seconds=${3:-3}
only=${4:-}
python=${PYTHON:-/usr/bin/python3}
bench="$build/tests/kernels/augment/bench_augment"
[ -x "$bench" ] || { echo "bench_augment not built: ninja -C $build tests/kernels/augment/bench_augment" >&2; exit 1; }
echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n): $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), ISA: $(grep -m1 -o 'avx512[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== flowtrain (C++, CPU)"
"$bench" "$threads" "$seconds" "$only"
echo "== torchvision"
"$python" "$(dirname "$0")/bench_augment.py" 2 512 "$only"
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

#!/usr/bin/env bash
# Files against WebDataset shards: read + decode images/s of N generated 64x64 colour JPEGs from
# separate files and from shards (`flowtrain pack`, 256MB shards), one shuffled pass each, with a
# cold page cache (dropped before the run, where the machine allows it) and a warm one, 1 and 2
# threads, side by side; plus pack time and the size overhead. Run from anywhere:
#   tools/bench_shards.sh            (N=100000; N=20000 tools/bench_shards.sh for a quick run)
# Environment: BUILD (default build), N, WORK (scratch folder, default a new one under /tmp;
# removed at the end unless KEEP=1).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${N:-100000}
WORK=${WORK:-$(mktemp -d /tmp/ft-bench-shards.XXXXXX)}
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT

[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" >/dev/null
ninja -C "$BUILD" cli/flowtrain tests/stages/source/bench_shards >/dev/null
FT="$BUILD/cli/flowtrain"
BENCH="$BUILD/tests/stages/source/bench_shards"

drop_caches() { sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; }
if drop_caches; then COLD="dropped (echo 3 > /proc/sys/vm/drop_caches)"; else COLD=""; fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); N = $N images; cold cache: ${COLD:-not allowed here (no cold numbers)}"

t0=$(date +%s.%N)
"$BENCH" gen "$WORK/files" "$N"
t1=$(date +%s.%N)
printf '[data]\ntrain = { format = "csv", images = "%s/files/images", labels = "%s/files/labels.csv" }\n[[stage]]\nid = "read"\nkind = "read_files"\n' \
  "$WORK" "$WORK" > "$WORK/pack.toml"
"$FT" pack "$WORK/pack.toml" --out "$WORK/shards" --quiet
t2=$(date +%s.%N)
echo "generate: $(echo "$t1 - $t0" | bc) s; pack (incl. loading the CSV): $(echo "$t2 - $t1" | bc) s"
jpeg=$(du -sb --apparent-size "$WORK/files/images" | cut -f1)
files_disk=$(du -sB1 "$WORK/files/images" | cut -f1)
tars=$(cat "$WORK"/shards/*.tar | wc -c)
meta=$(du -cb --apparent-size "$WORK"/shards/*.idx "$WORK/shards/manifest.toml" | tail -1 | cut -f1)
echo "sizes: JPEG bytes $jpeg; files on disk (4K blocks) $files_disk; shards $tars (+ $meta idx and manifest)"
echo "overhead of shards over the JPEG bytes: $(echo "scale=1; 100 * ($tars - $jpeg) / $jpeg" | bc)%"
echo

for threads in 1 2; do
  for src in files shards; do
    if [ -n "$COLD" ]; then drop_caches; printf 'cold  '; "$BENCH" read "$WORK/$src" "$threads" global; fi
    printf 'warm  '; "$BENCH" read "$WORK/$src" "$threads" global
  done
  if [ -n "$COLD" ]; then drop_caches; printf 'cold  '; "$BENCH" read "$WORK/shards" "$threads" window; fi
  printf 'warm  '; "$BENCH" read "$WORK/shards" "$threads" window
done

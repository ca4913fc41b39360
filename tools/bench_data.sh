#!/usr/bin/env bash
# Data-path benchmark: read -> decode -> augment (rotate +-10, hflip, normalize) -> batch over the
# imported Fashion-MNIST JPEGs, side by side with (1) raw libjpeg-turbo decode alone (floor on the
# decode cost: files preloaded, no augment) and (2) torchvision's DataLoader (2 workers, the same
# transforms, PIL decode). Run from anywhere:  tools/bench_data.sh
# Environment: BUILD (build folder, default build), DATA (default data/fashion-mnist),
# BATCHES (timed batches of 128, default 300), THREADS (default 2).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DATA=${DATA:-$ROOT/data/fashion-mnist}
BATCHES=${BATCHES:-300}
THREADS=${THREADS:-2}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" >/dev/null
ninja -C "$BUILD" cli/flowtrain kernels/io/bench_decode >/dev/null
FT="$BUILD/cli/flowtrain"
"$FT" import fashion-mnist --out "$DATA"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $DATA/train (60000 JPEGs, 28x28 grayscale); batch 128; $BATCHES timed batches"
echo

# 1. Raw decode, files in memory: the libjpeg-turbo floor.
"$BUILD/kernels/io/bench_decode" "$DATA/train" "$THREADS" 0 3 | tee "$OUT/raw.txt"

# 2. flowtrain: the same data path as a stage graph, measured by `flowtrain profile`.
# ---- FLOWTRAIN COMMAND (lead: adjust the config schema / flags if they differ) ----
cat > "$OUT/bench_data.toml" <<TOML
[run]
name = "bench-data"
seed = 0
threads = $THREADS

[data]
train = { format = "csv", images = "$DATA/train", labels = "$DATA/train.csv" }

[[stage]]
id = "read"
kind = "read_files"
batch_size = 128
shuffle = true

[[stage]]
id = "decode"
kind = "decode_jpeg"
after = "read"

[[stage]]
id = "augment"
kind = "augment"
after = "decode"
ops = [ { op = "rotate", degrees = 10 }, { op = "hflip", p = 0.5 },
        { op = "normalize", mean = [0.286], std = [0.353] } ]

[[stage]]
id = "batch"
kind = "batch"
after = "augment"
TOML
if "$FT" profile "$OUT/bench_data.toml" --batches "$BATCHES" --threads "$THREADS" --trace "$OUT/trace.json" \
    > "$OUT/flowtrain.txt" 2>&1; then
  cat "$OUT/flowtrain.txt"
else
  echo "flowtrain profile failed:"; cat "$OUT/flowtrain.txt"
fi
# ---- end of FLOWTRAIN COMMAND ----
echo

# 3. torchvision DataLoader, 2 workers, PIL decode, the same transforms.
/usr/bin/python3 "$ROOT/tools/bench_data.py" --images "$DATA/train" --labels "$DATA/train.csv" \
  --batches "$BATCHES" --workers 2 | tee "$OUT/torchvision.txt"

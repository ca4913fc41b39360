#!/usr/bin/env bash
# Data-path benchmark: read -> decode -> augment -> batch, side by side with (1) raw libjpeg-turbo
# decode alone (floor on the decode cost: files preloaded, no augment) and (2) torchvision's
# DataLoader (2 workers, the same transforms, PIL decode). Two datasets:
#   DATASET=synth  (default) 12,800 64x64 RGB JPEGs from `flowtrain synth` (issue 14's data path);
#   DATASET=fmnist the 60,000 imported Fashion-MNIST JPEGs (28x28 gray).
# CHAIN=rotate (default): augment = rotate +-10 (bilinear), hflip, normalize (f32); CHAIN=seed: the
# seed's chain at 224 (resize 224, random_resized_crop 224, hflip, trivial_augment_wide, normalize,
# random_erasing with noise). Run from anywhere:  tools/bench_data.sh
# Environment: PYTHON (the peer's interpreter: default Debian's /usr/bin/python3 with torch 1.13;
# `PYTHON=$(tools/make_torch_venv.sh DIR)` for current PyTorch from PyPI), BUILD (build folder,
# default build), DATA (dataset folder), N (synth images, default 12800), BATCHES (timed batches of
# 128, default 300), THREADS (default 2), FT (the flowtrain binary, default $BUILD/cli/flowtrain:
# set it to measure another build side by side on the same data).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DATASET=${DATASET:-synth}
PYTHON=${PYTHON:-/usr/bin/python3}
BATCHES=${BATCHES:-300}
THREADS=${THREADS:-2}
N=${N:-12800}
CHAIN=${CHAIN:-rotate}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

[ -d "$BUILD" ] || meson setup "$BUILD" "$ROOT" >/dev/null
ninja -C "$BUILD" cli/flowtrain kernels/io/bench_decode >/dev/null
FT=${FT:-$BUILD/cli/flowtrain}
case "$DATASET" in
  synth)
    DATA=${DATA:-$ROOT/data/synth64-$N}
    "$BUILD/cli/flowtrain" synth --out "$DATA" --classes 10 --train "$N" --test 10 --size 64 >/dev/null
    IMAGES=$DATA/trainval LABELS=$DATA/labels.csv
    MEAN="[0.485, 0.456, 0.406]" STD="[0.229, 0.224, 0.225]"
    WHAT="$N JPEGs, 64x64 RGB (flowtrain synth)" ;;
  fmnist)
    DATA=${DATA:-$ROOT/data/fashion-mnist}
    "$BUILD/cli/flowtrain" import fashion-mnist --out "$DATA" >/dev/null
    IMAGES=$DATA/train LABELS=$DATA/train.csv
    MEAN="[0.286]" STD="[0.353]"
    WHAT="60000 JPEGs, 28x28 grayscale (Fashion-MNIST)" ;;
  *) echo "error: DATASET=$DATASET: expected synth or fmnist" >&2; exit 2 ;;
esac
case "$CHAIN" in
  rotate) OPS="{ op = \"rotate\", degrees = 10 }, { op = \"hflip\", p = 0.5 }, { op = \"normalize\", mean = $MEAN, std = $STD }" ;;
  seed) OPS="{ op = \"resize\", size = [224, 224] }, { op = \"random_resized_crop\", size = 224 }, { op = \"hflip\" },
         { op = \"trivial_augment_wide\" }, { op = \"normalize\", mean = $MEAN, std = $STD },
         { op = \"random_erasing\", value = \"random\" }" ;;
  *) echo "error: CHAIN=$CHAIN: expected rotate or seed" >&2; exit 2 ;;
esac

echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), ISA: $(grep -m1 -o 'avx512[a-z_0-9]*\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $IMAGES ($WHAT); batch 128; $BATCHES timed batches; chain: $CHAIN"
echo

# 1. Raw decode, files in memory: the libjpeg-turbo floor.
"$BUILD/kernels/io/bench_decode" "$IMAGES" "$THREADS" 0 3 | tee "$OUT/raw.txt"

# 2. flowtrain: the same data path as a stage graph, measured by `flowtrain profile`.
cat > "$OUT/bench_data.toml" <<TOML
[run]
name = "bench-data"
seed = 0
threads = $THREADS

[data]
train = { format = "csv", images = "$IMAGES", labels = "$LABELS" }

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
ops = [ $OPS ]

[[stage]]
id = "batch"
kind = "batch"
after = "augment"
TOML
echo "flowtrain: $FT"
if "$FT" profile "$OUT/bench_data.toml" --batches "$BATCHES" --threads "$THREADS" --trace "$OUT/trace.json" \
    > "$OUT/flowtrain.txt" 2>&1; then
  cat "$OUT/flowtrain.txt"
else
  echo "flowtrain profile failed:"; cat "$OUT/flowtrain.txt"
fi
echo

# 3. torchvision DataLoader, 2 workers, PIL decode, the same transforms.
"$PYTHON" "$ROOT/tools/bench_data.py" --images "$IMAGES" --labels "$LABELS" \
  --batches "$BATCHES" --workers 2 --chain "$CHAIN" --mean "$MEAN" --std "$STD" | tee "$OUT/torchvision.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

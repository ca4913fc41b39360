#!/bin/sh
# Training throughput, flowtrain vs PyTorch (PYTHON=, default /usr/bin/python3 with Debian's 1.13;
# current PyTorch: PYTHON=$(tools/make_torch_venv.sh)), side by side: forward + cross-entropy +
# backward + SGD (momentum 0.9, weight decay 5e-4), batch 128, 2 threads, in f32 and bf16
# (override: THREADS=, BATCH=, STEPS=, ROUNDS=, PRECISIONS="f32 bf16", MODELS="resnet18 3 64 64;
# ..."). Each round runs flowtrain then PyTorch on each model and precision (PyTorch's bf16:
# channels_last + bf16 autocast); compare the rounds' numbers (images/s from the median step).
# Usage: tools/bench_train.sh [BUILD_DIR]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
threads=${THREADS:-2}
batch=${BATCH:-128}
steps=${STEPS:-5}
rounds=${ROUNDS:-2}
precisions=${PRECISIONS:-f32 bf16}
models=${MODELS:-resnet18 3 64 64;mini_resnet 3 64 64;resnet_small 3 64 64;resnext50_32x4d 3 64 64;resnet_small 1 28 28}
ninja -C "$build" tests/kernels/nn/bench_train >/dev/null
bench="$build/tests/kernels/nn/bench_train"
export OMP_NUM_THREADS="$threads"
peer=yes
python=${PYTHON:-/usr/bin/python3}
"$python" -c "import torch, torchvision" 2>/dev/null || peer=""
[ -n "$peer" ] || echo "# PyTorch/torchvision not importable by $python: flowtrain only"
[ -z "$peer" ] || echo "# peer: $("$python" -c 'import torch; print("torch", torch.__version__)')"
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for _ in $(seq "$rounds"); do
  echo "$models" | tr ';' '\n' | while read -r model; do
    for p in $precisions; do
      flag=""
      [ "$p" = bf16 ] && flag="--bf16"
      # shellcheck disable=SC2086
      "$bench" $model --batch "$batch" --threads "$threads" --steps "$steps" --warmup 1 --precision "$p"
      [ -n "$peer" ] || continue
      # shellcheck disable=SC2086
      "$python" "$root/tools/bench_train.py" $model --batch "$batch" --threads "$threads" --steps "$steps" --warmup 1 $flag
    done
  done
done

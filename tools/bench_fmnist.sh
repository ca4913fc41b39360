#!/usr/bin/env bash
# The main job against PyTorch, one after the other on this machine: flowtrain's default config
# (configs/fmnist.toml) and the same recipe in PyTorch (tools/reference/train_fmnist.py:
# resnet_small [16,32,64]x[1,1,1], 12 epochs, batch 128, SGD nesterov lr 0.2 with 1 warmup epoch
# + cosine, label smoothing 0.1, random_crop pad 2 + hflip, DataLoader over the same JPEGs with
# 2 workers and torch.set_num_threads(2)). Prints each side's per-epoch test top-1 and the wall
# time at which it first reached 92%.
# Usage: tools/bench_fmnist.sh [EPOCHS=12]
# Environment: PYTHON (the peer's interpreter: default Debian's /usr/bin/python3 with PyTorch
# 1.13; `PYTHON=$(tools/make_torch_venv.sh DIR)` for current PyTorch from PyPI), PRECISIONS
# (default "f32"; "f32 bf16" runs both sides in each: flowtrain `[run] precision`, PyTorch
# channels_last + bf16 autocast), BUILD (default build; tools/build.sh makes it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
epochs=${1:-12}
python=${PYTHON:-/usr/bin/python3}
build=${BUILD:-build}
[ "$build" = build ] && tools/build.sh
"./$build/cli/flowtrain" import fashion-mnist --out data/fashion-mnist >/dev/null
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# peer: $("$python" -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)')"
for precision in ${PRECISIONS:-f32}; do
  echo "## flowtrain $precision"
  name=bench-fmnist-$precision
  "./$build/cli/flowtrain" run configs/fmnist.toml --quiet --overwrite --set run.name="$name" \
    --set run.epochs="$epochs" --set run.precision="\"$precision\""
  awk -F, -v who="flowtrain $precision" 'NR > 1 && $1 == "epoch" && $2 == "val" {
             printf "epoch %d val top1 %.2f%% at %.1f s\n", $3, 100 * $7, $10
             if (!hit && $7 >= 0.92) { hit = 1; t = $10 } }
           END { if (hit) printf "%s time_to_92%% %.1f s\n", who, t; else print who " did not reach 92%" }' \
    "runs/$name/metrics.csv"
  echo "## PyTorch $precision"
  "$python" tools/reference/train_fmnist.py --data data/fashion-mnist --threads 2 --workers 2 --epochs "$epochs" \
    --widths 16,32,64 --blocks 1,1,1 --batch 128 --lr 0.2 --momentum 0.9 --nesterov 1 --wd 5e-4 \
    --no-decay 1 --label-smoothing 0.1 --schedule warmup_cosine --warmup-epochs 1 --warmup-start 0.1 \
    --pad 2 --hflip 1 --mode "$precision"
done

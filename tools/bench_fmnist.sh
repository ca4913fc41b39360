#!/usr/bin/env bash
# The main job against PyTorch, one after the other on this machine: flowtrain's default config
# (configs/fmnist.toml) and the same recipe in PyTorch 1.13 (tools/reference/train_fmnist.py:
# resnet_small [16,32,64]x[1,1,1], 12 epochs, batch 128, SGD nesterov lr 0.2 with 1 warmup epoch
# + cosine, label smoothing 0.1, random_crop pad 2 + hflip, DataLoader over the same JPEGs with
# 2 workers and torch.set_num_threads(2)). Prints each side's per-epoch test top-1 and the wall
# time at which it first reached 92%. Usage: tools/bench_fmnist.sh [EPOCHS=12]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
epochs=${1:-12}
tools/build.sh
./build/cli/flowtrain import fashion-mnist --out data/fashion-mnist >/dev/null
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## flowtrain"
./build/cli/flowtrain run configs/fmnist.toml --quiet --set run.name=bench-fmnist --set run.epochs="$epochs"
awk -F, 'NR > 1 && $1 == "epoch" && $2 == "val" {
           printf "epoch %d val top1 %.2f%% at %.1f s\n", $3, 100 * $7, $10
           if (!hit && $7 >= 0.92) { hit = 1; t = $10 } }
         END { if (hit) printf "flowtrain time_to_92%% %.1f s\n", t; else print "flowtrain did not reach 92%" }' \
  runs/bench-fmnist/metrics.csv
echo "## PyTorch"
/usr/bin/python3 tools/reference/train_fmnist.py --data data/fashion-mnist --threads 2 --workers 2 --epochs "$epochs" \
  --widths 16,32,64 --blocks 1,1,1 --batch 128 --lr 0.2 --momentum 0.9 --nesterov 1 --wd 5e-4 \
  --no-decay 1 --label-smoothing 0.1 --schedule warmup_cosine --warmup-epochs 1 --warmup-start 0.1 --pad 2 --hflip 1

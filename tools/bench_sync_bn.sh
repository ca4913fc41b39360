#!/usr/bin/env bash
# SyncBatchNorm's step-time cost on 2 processes, side by side with per-process batch norm:
# `flowtrain profile` of configs/fmnist.toml (resnet_small on 28x28 Fashion-MNIST, global batch
# 128 = 2 x 64) under `mpirun -np 2`, 1 thread per process, with and without [distributed]
# sync_batchnorm, alternating for ROUNDS rounds. Prints the machine, then each run's throughput
# and communication lines (train_step: mean and p95 ms per batch of rank 0).
# Usage: tools/bench_sync_bn.sh [BATCHES=150] [ROUNDS=2]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
batches=${1:-150}
rounds=${2:-2}
tools/build.sh
./build/cli/flowtrain import fashion-mnist --out data/fashion-mnist >/dev/null
echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for round in $(seq "$rounds"); do
  for sync in false true; do
    echo "## round $round, sync_batchnorm = $sync"
    mpirun --oversubscribe -np 2 ./build/cli/flowtrain profile configs/fmnist.toml \
      --batches "$batches" --threads 1 --set run.omp_threads=1 \
      --set distributed.sync_batchnorm="$sync" 2>&1 | grep -E 'samples/s|train_step|communication'
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

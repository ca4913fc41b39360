#!/usr/bin/env bash
# The main job: install what is missing, build, import Fashion-MNIST from Debian's package,
# train the default config on the CPU, evaluate on the 10,000 test images, draw the curves.
# Extra arguments go to `flowtrain run` (e.g. --set run.epochs=2). Rerunning the job retrains:
# it passes --overwrite (runs/fmnist is replaced) unless the arguments say --resume.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh --runtime-extras
tools/build.sh
./build/cli/flowtrain import fashion-mnist --out data/fashion-mnist
reuse=(--overwrite)
for arg in "$@"; do
  case "$arg" in --resume | --resume=* | --overwrite) reuse=() ;; esac
done
./build/cli/flowtrain run configs/fmnist.toml "${reuse[@]}" "$@"

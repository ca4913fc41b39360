#!/usr/bin/env bash
# The peer to beat: a virtual environment with current PyTorch, torchvision and safetensors from
# PyPI, outside the repository (the wheels pull several GB of CUDA libraries). Benchmarks and the
# interop script use it; tests never do.
#   tools/make_torch_venv.sh [DIR]      (default: $FT_TORCH_VENV or ~/.cache/flowtrain/torch-venv)
# Prints the environment's python; pass it as PYTHON= to tools/bench_train.sh.
set -euo pipefail
dir=${1:-${FT_TORCH_VENV:-$HOME/.cache/flowtrain/torch-venv}}
root=$(cd "$(dirname "$0")/.." && pwd)
case "$(realpath -m "$dir")/" in
  "$root"/*) echo "error: $dir is inside the repository; put the environment elsewhere" >&2; exit 2 ;;
esac
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  [[ $(id -u) -eq 0 ]] || { echo "error: python3-venv is missing (apt-get install python3-venv)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
[[ -x $dir/bin/python ]] || python3 -m venv "$dir"
"$dir/bin/pip" install -q --upgrade torch torchvision safetensors numpy
"$dir/bin/python" -c 'import torch, torchvision, safetensors; print("torch", torch.__version__, "torchvision", torchvision.__version__, "safetensors", safetensors.__version__)' >&2
echo "$dir/bin/python"

#!/usr/bin/env bash
# GPU checks in two steps (see ../shared/GPU.md):
#   tools/gpu_check.sh pack   here: build with CUDA (sm_90 + PTX) into build/, collect the GPU
#                             test binaries and the non-CUDA shared libraries into .gpu/ (ignored)
#   tools/gpu_check.sh run    on the device (run tool, carry [".gpu"]): CUDA vs CPU conformance for
#                             every augmentation op and a whole chain, kernel GB/s against the
#                             device copy bandwidth; every CUDA layer, whole models and SGD steps
#                             against the CPU; train-step throughput; a short end-to-end run on
#                             the GPU beside the same run on the CPU; report and logs under $OUT
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  pack)
    # build/ compiles the CUDA code whenever nvcc is found (meson option gpu=auto).
    tools/build.sh
    ninja -C build tests/kernels/augment/test_augment_gpu tests/kernels/nn/test_nn_gpu cli/flowtrain >/dev/null
    rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib
    cp build/tests/kernels/augment/test_augment_gpu build/tests/kernels/nn/test_nn_gpu build/cli/flowtrain .gpu/bin/
    # 2000 + 2000 Fashion-MNIST JPEGs (~4 MB) for the end-to-end run (the device has no dataset).
    build/cli/flowtrain import fashion-mnist --limit 2000 --out .gpu/data/fmnist >/dev/null
    strip .gpu/bin/*
    for bin in .gpu/bin/*; do
      ldd "$bin" | awk '/=> \// {print $3}' |
        grep -v -e libcuda -e libcudart -e libcudnn -e libcublas -e libnccl \
             -e '/libc\.so' -e '/libm\.so' -e libstdc++ -e libgcc_s -e ld-linux -e libpthread -e libdl |
        while read -r lib; do cp -L "$lib" .gpu/lib/ 2>/dev/null || true; done
    done
    strip --strip-unneeded .gpu/lib/* 2>/dev/null || true
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    du -sh .gpu
    ;;
  run)
    out="${OUT:-gpu-out}"
    mkdir -p "$out"
    libdirs=$(find / -name 'libcudnn.so.9*' -o -name 'libcublas.so.13*' -o -name 'libcudart.so.13*' -o -name 'libnvrtc.so.13*' 2>/dev/null |
              xargs -r -n1 dirname | sort -u | tr '\n' ':' || true)  # find exits 1 on unreadable dirs
    export LD_LIBRARY_PATH="$PWD/.gpu/lib:${libdirs}${LD_LIBRARY_PATH:-}"
    {
      nvidia-smi || true
      echo "libraries: $libdirs"
      ldd .gpu/bin/test_nn_gpu | grep -e cuda -e cudnn -e cublas -e 'not found' || true
    } > "$out/environment.txt" 2>&1
    set +e
    timeout 120 .gpu/bin/test_augment_gpu --duration=true > "$out/augment_gpu.log" 2>&1
    rc_aug=$?
    timeout 150 .gpu/bin/test_nn_gpu --duration=true > "$out/nn_gpu.log" 2>&1
    rc_nn=$?
    # The PyTorch peer of the train-step throughput, same card, same run.
    if [[ -x /opt/torch/.venv/bin/python ]]; then
      timeout 120 /opt/torch/.venv/bin/python tools/bench_train_gpu.py > "$out/torch_gpu.log" 2>&1
    else
      echo "no /opt/torch/.venv/bin/python" > "$out/torch_gpu.log"
    fi
    # End to end: configs/tiny.toml on 2000 images for 3 epochs, training on the GPU with the train
    # batches augmented on the GPU and handed over in device memory, then the same run on the CPU;
    # both write metrics and summary.json.
    data=(--set "data.train.images=\".gpu/data/fmnist/train\"" --set "data.train.labels=\".gpu/data/fmnist/train.csv\""
          --set "data.val.images=\".gpu/data/fmnist/test\"" --set "data.val.labels=\".gpu/data/fmnist/test.csv\""
          --set run.epochs=3 --set run.threads=8 --set run.omp_threads=8)
    timeout 80 .gpu/bin/flowtrain run configs/tiny.toml "${data[@]}" --set 'run.device="cuda"' \
      --set 'augment.device="cuda"' --set 'augment.output="device"' --set 'run.name="tiny_gpu"' --set "run.runs_dir=\"$out/runs\"" > "$out/e2e_gpu.log" 2>&1
    rc_gpu=$?
    timeout 80 .gpu/bin/flowtrain run configs/tiny.toml "${data[@]}" --set 'run.name="tiny_cpu"' \
      --set "run.runs_dir=\"$out/runs\"" > "$out/e2e_cpu.log" 2>&1
    rc_cpu=$?
    set -e
    {
      echo "# GPU check $(date -u +%FT%TZ)"
      echo "test_augment_gpu exit code: $rc_aug"
      tail -n 5 "$out/augment_gpu.log"
      echo "test_nn_gpu exit code: $rc_nn"
      grep -e 'train step' -e 'test cases' "$out/nn_gpu.log" || true
      echo "PyTorch peer:"
      cat "$out/torch_gpu.log"
      echo "end-to-end GPU run exit code: $rc_gpu"
      tail -n 3 "$out/e2e_gpu.log"
      cat "$out/runs/tiny_gpu/summary.json" 2>/dev/null || true
      echo "end-to-end CPU run exit code: $rc_cpu"
      tail -n 3 "$out/e2e_cpu.log"
      cat "$out/runs/tiny_cpu/summary.json" 2>/dev/null || true
      top1() { grep -o '"val_top1": [0-9.]*' "$out/runs/$1/summary.json" 2>/dev/null | awk '{print $2}'; }
      echo "end-to-end val top-1: GPU $(top1 tiny_gpu), CPU $(top1 tiny_cpu) (same recipe and seed; the"
      echo "GPU sums convolutions in another order, so expect them close, not equal)"
    } > "$out/report.md"
    cat "$out/report.md"
    [[ $rc_aug == 0 && $rc_nn == 0 && $rc_gpu == 0 && $rc_cpu == 0 ]]
    ;;
  *)
    echo "usage: tools/gpu_check.sh pack|run" >&2
    exit 2
    ;;
esac

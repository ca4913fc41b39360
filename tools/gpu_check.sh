#!/usr/bin/env bash
# GPU checks in two steps (see ../shared/GPU.md):
#   tools/gpu_check.sh pack   here: build with CUDA (sm_90 + PTX) into build/, collect the GPU
#                             test binaries and the non-CUDA shared libraries into .gpu/ (ignored)
#   tools/gpu_check.sh run    on the device (run tool, carry [".gpu"]): CUDA vs CPU conformance for
#                             every augmentation op and a whole chain, kernel GB/s against the
#                             device copy bandwidth; report and logs under $OUT
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  pack)
    # build/ compiles the CUDA code whenever nvcc is found (meson option gpu=auto).
    tools/build.sh
    ninja -C build tests/kernels/augment/test_augment_gpu cli/flowtrain >/dev/null
    rm -rf .gpu && mkdir -p .gpu/bin .gpu/lib
    cp build/tests/kernels/augment/test_augment_gpu build/cli/flowtrain .gpu/bin/
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
    libdirs=$(find / -name 'libcudnn.so.9*' -o -name 'libcublas.so.13*' -o -name 'libcudart.so.13*' 2>/dev/null |
              xargs -r -n1 dirname | sort -u | tr '\n' ':')
    export LD_LIBRARY_PATH="$PWD/.gpu/lib:${libdirs}${LD_LIBRARY_PATH:-}"
    {
      nvidia-smi || true
      echo "libraries: $libdirs"
      ldd .gpu/bin/test_augment_gpu | grep -e cuda -e 'not found' || true
    } > "$out/environment.txt" 2>&1
    set +e
    timeout 300 .gpu/bin/test_augment_gpu --duration=true > "$out/augment_gpu.log" 2>&1
    rc=$?
    set -e
    {
      echo "# GPU check $(date -u +%FT%TZ)"
      echo "test_augment_gpu exit code: $rc"
      tail -n 5 "$out/augment_gpu.log"
    } > "$out/report.md"
    cat "$out/report.md"
    exit "$rc"
    ;;
  *)
    echo "usage: tools/gpu_check.sh pack|run" >&2
    exit 2
    ;;
esac

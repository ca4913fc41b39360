#!/usr/bin/env bash
# The GPU check (../shared/GPU.md; docs/DESIGN.md, "Device"), three modes over one step list:
#   tools/gpu_check.sh pack        here: build/ with CUDA; the GPU test binaries, flowtrain, a
#                                  2000 + 2000 image Fashion-MNIST subset and the shared libraries
#                                  they need beyond glibc and CUDA, stripped, into .gpu/ (ignored)
#   tools/gpu_check.sh dry         here, no GPU: every step up to its first CUDA call, and proof
#                                  that .gpu/ resolves and fits, and that the output fits the run tool
#   tools/gpu_check.sh run [STEP]  on the device (run tool: carry [".gpu"], timeout_s 570): the
#                                  steps by value, each command under its own timeout, within
#                                  GPU_CHECK_BUDGET (540 s); $OUT gets report.md, rewritten after
#                                  each step, and logs.tar.gz (logs and run folders), nothing else.
#                                  STEP (conformance, end_to_end, benchmarks) runs only that one
#                                  after the environment step, for a rerun.
# Carried libraries go on the library path of flowtrain's binaries only (ftenv), never of the
# PyTorch peer, which uses the device's own CUDA libraries.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly STEPS=(environment conformance end_to_end benchmarks)
# The GPU suites are every test_*gpu* executable the build defines (each runs in step 2); these
# two also hold the benchmark cases (step 4).
readonly BENCH_SUITES=(test_augment_gpu test_nn_gpu)
readonly DATA=.gpu/data/fmnist
readonly BENCH_CASES='*throughput*,*bandwidth*'  # doctest names of the GPU suites' benchmark cases
# Not carried: glibc (the device has its own; Debian's librt imports glibc-private symbols) and the
# CUDA libraries the device has (driver, runtime, cuDNN, cuBLAS, NCCL, NVRTC for cuDNN's engines).
readonly GLIBC_LIBS='^(linux-vdso|ld-linux-x86-64|lib(c|m|dl|pthread|rt|util|resolv|anl|mvec))\.so'
readonly DEVICE_CUDA_LIBS='^lib(cuda|cudart|cudnn[a-z_]*|cublas|cublasLt|nccl|nvrtc[a-z-]*)\.so'
# Carried apart (.gpu/lib-cxx), used only where the device's own libstdc++ cannot load the
# binaries: Debian 12's needs glibc 2.36, which a device whose libstdc++ would do may not have.
readonly CXX_RUNTIME='^lib(stdc\+\+|gcc_s)\.so'
readonly TREE_LIMIT=$((64 << 20)) FILE_LIMIT=$((16 << 20)) OUT_TOTAL_LIMIT=$((64 << 20)) OUT_FILES=8
readonly BUDGET=${GPU_CHECK_BUDGET:-540}  # seconds; every timeout is cut to what is left of it
readonly KILL_AFTER=3                      # SIGKILL this long after a timeout's SIGTERM
readonly fence='```'

die() { echo "gpu_check: $*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

# ---------------------------------------------------------------------------------------------
# pack (here)

pack() {
  local build=${GPU_CHECK_BUILD:-build}  # another configured build folder, for trying this script
  if [[ $build == build ]]; then tools/build.sh || die "tools/build.sh failed: ninja -C build says why"; fi
  grep -q FT_HAVE_CUDA "$build/build.ninja" || die "$build/ was configured without CUDA (nvcc not found)"
  local targets
  mapfile -t targets < <(ninja -C "$build" -t targets all | grep -o '^tests/[^:]*' |
    grep -E '/test_[a-z0-9_]*gpu[a-z0-9_]*$')
  ((${#targets[@]})) || die "$build/ defines no GPU test suite (test_*gpu*)"
  targets+=(cli/flowtrain)
  ninja -C "$build" "${targets[@]}" >/dev/null
  rm -rf .gpu/bin .gpu/lib .gpu/lib-cxx .gpu/out .gpu/dry-out
  mkdir -p .gpu/bin .gpu/lib .gpu/lib-cxx
  for t in "${targets[@]}"; do cp "$build/$t" .gpu/bin/; done
  strip .gpu/bin/*
  # The device has no dataset. The import is kept between packs (it skips what exists).
  [[ -f $DATA/test.csv ]] || "$build/cli/flowtrain" import fashion-mnist --limit 2000 --out "$DATA" >/dev/null
  # ldd lists the whole closure, the CUDA libraries' own needs included.
  local name path
  ldd .gpu/bin/* | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u |
    while read -r name path; do
      [[ $name =~ $GLIBC_LIBS || $name =~ $DEVICE_CUDA_LIBS ]] && continue
      if [[ $name =~ $CXX_RUNTIME ]]; then cp -L "$path" ".gpu/lib-cxx/$name"; else cp -L "$path" ".gpu/lib/$name"; fi
    done
  strip --strip-unneeded .gpu/lib/* .gpu/lib-cxx/*
  {
    echo "commit: $(git describe --always --dirty 2>/dev/null || echo unknown)"
    echo "packed: $(date -u +%FT%TZ) on $(uname -srm)"
    echo "needs glibc >= $(max_version GLIBC .gpu/bin/* .gpu/lib/*) (.gpu/lib-cxx: $(max_version GLIBC .gpu/lib-cxx/*))"
    echo "needs libstdc++ with GLIBCXX_$(max_version GLIBCXX .gpu/bin/* .gpu/lib/*)"
  } > .gpu/manifest.txt
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git check-ignore -q .gpu/manifest.txt; then
    echo '/.gpu/' >>"$(git rev-parse --git-dir)/info/exclude"
  fi
  cat .gpu/manifest.txt
  local libs=(.gpu/lib/* .gpu/lib-cxx/*)
  echo "packed: $(mib "$(du -sb .gpu | cut -f1)") in .gpu/ (${#libs[@]} libraries)"
}

# max_version PREFIX FILE...: the newest PREFIX_x.y symbol version the files import.
max_version() {
  local prefix=$1; shift
  objdump -T "$@" 2>/dev/null | grep -o "(${prefix}_[0-9.]*)" | tr -d '()' | sed "s/${prefix}_//" |
    sort -uV | tail -n 1
}

# ---------------------------------------------------------------------------------------------
# The runner shared by dry and run

mode=""             # dry | run
work=""             # logs/ and runs/ (archived into $out), report sections
out=""              # what comes back: report.md and logs.tar.gz
cuda_dirs=""        # the device's folders holding cuDNN, cuBLAS, cudart and NVRTC
cxx_dir=""          # .gpu/lib-cxx when the system's libstdc++ cannot load the binaries
cxx_note=""
planned=0           # the sum of the step timeouts, kill grace included (dry proves it fits)
failed=0            # run: some command failed, timed out or skipped its GPU work
violations=()       # dry: limits or paths that would fail on the device
rows=""             # the current step's table rows

ft_library_path() { echo "$PWD/.gpu/lib${cxx_dir:+:$PWD/$cxx_dir}${cuda_dirs:+:$cuda_dirs}"; }
violate() { violations+=("$*"); echo "gpu_check dry: VIOLATION: $*" >&2; }

# x SECONDS LOG PROBE CMD...: one command of a step; a leading `ftenv` puts the carried and the
# device's CUDA libraries on its library path. run: CMD under `timeout SECONDS` (cut to what is
# left of the budget), output in logs/LOG after a "$ CMD" line. dry: the repository paths CMD
# names must exist, and PROBE says how far it runs without a GPU:
#   -        not at all (nvidia-smi)
#   as-is    as it is: it stops by itself where no GPU is (ldd, `flowtrain devices`)
#   list     with doctest's --list-test-cases: CMD's filters must select a test case
#   dry-run  with flowtrain's --dry-run: the config is valid and refused only for want of a GPU
#   python   each .py it names must parse (the PyTorch peer: no torch here)
x() {
  local seconds=$1 log=$2 probe=$3
  shift 3
  planned=$((planned + seconds + KILL_AFTER))
  local cmd=("$@")
  if [[ ${cmd[0]} == ftenv ]]; then cmd=(env "LD_LIBRARY_PATH=$(ft_library_path)" "${cmd[@]:1}"); fi
  local logf="$work/logs/$log"
  echo "\$ $*" >"$logf"
  if [[ $mode == dry ]]; then
    probe_command "$log" "$probe" "${cmd[@]}"
    return 0
  fi
  local left=$((BUDGET - SECONDS))
  if ((left < 5)); then
    echo "not run: the budget of $BUDGET s is spent" >>"$logf"
    rows+="| $log | not run (budget spent) | 0 | $seconds |"$'\n'
    failed=1
    return 0
  fi
  local limit=$((seconds < left ? seconds : left)) t0=$SECONDS rc=0
  # Line-buffered, so a command killed at its timeout leaves every line it printed.
  if command -v stdbuf >/dev/null; then cmd=(stdbuf -oL -eL "${cmd[@]}"); fi
  timeout -k "$KILL_AFTER" "$limit" "${cmd[@]}" >>"$logf" 2>&1 </dev/null || rc=$?
  local status=$rc
  if ((rc == 124 || rc == 137)); then status="$rc (timed out)"; fi
  if ((rc != 0)); then failed=1; fi
  rows+="| $log | $status | $((SECONDS - t0)) | $limit |"$'\n'
  echo "gpu_check: $log: exit $status, $((SECONDS - t0)) s"
}

probe_command() {
  local log=$1 probe=$2
  shift 2
  local logf="$work/logs/$log" a v
  for a in "$@"; do
    v=${a#*=}                      # --set KEY="VALUE" and ENV=VALUE: the value
    v=${v//\"/} v=${v//\'/}
    if [[ $v =~ ^(\.gpu|configs|tools)/ && ! -e $v ]]; then violate "$log: $v does not exist"; fi
  done
  local rc=0
  case $probe in
    -) echo "(needs the device: not run here)" >>"$logf" ;;
    as-is) timeout 30 "$@" >>"$logf" 2>&1 </dev/null || rc=$? ;;
    list)
      timeout 30 "$@" --list-test-cases >>"$logf" 2>&1 </dev/null || rc=$?
      grep -Eq 'passing the current filters: [1-9]' "$logf" || violate "$log: its filters select no test case"
      ;;
    dry-run)
      timeout 30 "$@" --dry-run >>"$logf" 2>&1 </dev/null || rc=$?
      # Refused at the device check, which comes after the config, graph and data checks.
      if ((rc == 2)) && grep -q 'no CUDA device is visible' "$logf"; then rc=0; fi
      ;;
    python)
      for a in "$@"; do
        [[ $a == *.py ]] || continue
        python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' "$a" >>"$logf" 2>&1 || rc=$?
      done
      ;;
    *) die "unknown probe $probe" ;;
  esac
  ((rc == 0)) || violate "$log: exit $rc without a GPU: $(tail -n 3 "$logf" | tr '\n' ' ')"
  rows+="| $log | dry: $probe, exit $rc | - | - |"$'\n'
}

# The device's CUDA libraries (PyTorch's wheels, a toolkit): cuDNN's folder first, so its cuDNN
# wins, then cuBLAS, cudart, NVRTC, NCCL (data-parallel training); PyTorch's before others for
# each.
find_cuda_libdirs() {
  planned=$((planned + 15))
  local found lib dirs=()
  found=$(timeout 15 find /opt /usr/local /usr/lib /usr/lib64 -name 'lib*.so.*' \
    \( -name 'libcudnn.so.9' -o -name 'libcublas.so.13' -o -name 'libcublasLt.so.13' \
    -o -name 'libcudart.so.13' -o -name 'libnvrtc.so.13' -o -name 'libnccl.so.2' \) 2>/dev/null || true)
  for lib in libcudnn.so.9 libcublas.so.13 libcublasLt.so.13 libcudart.so.13 libnvrtc.so.13 libnccl.so.2; do
    while read -r d; do
      [[ -n $d && " ${dirs[*]} " != *" $d "* ]] && dirs+=("$d")
    done < <(grep "/$lib\$" <<<"$found" | xargs -r -n1 dirname | sort | awk '/^\/opt\/torch/ { print; next } { rest = rest $0 "\n" } END { printf "%s", rest }')
  done
  cuda_dirs=$(IFS=:; echo "${dirs[*]}")
}

# The device's libstdc++ when it loads the binaries, else the carried one.
choose_cxx_runtime() {
  planned=$((planned + 10))
  local logf="$work/logs/cxx_runtime.log"
  cxx_dir=""
  if env LD_LIBRARY_PATH="$(ft_library_path)" timeout 5 .gpu/bin/flowtrain --version >"$logf" 2>&1; then
    cxx_note="the device's own libstdc++"
    return 0
  fi
  local why
  why=$(head -n 1 "$logf")
  cxx_dir=.gpu/lib-cxx
  if env LD_LIBRARY_PATH="$(ft_library_path)" timeout 5 .gpu/bin/flowtrain --version >>"$logf" 2>&1; then
    cxx_note="the carried libstdc++ (.gpu/lib-cxx); the device's own: $why"
  else
    cxx_note="NEITHER loads flowtrain: $(tail -n 1 "$logf")"
    failed=1
    if [[ $mode == dry ]]; then violate "flowtrain does not load: $(tail -n 1 "$logf")"; fi
  fi
}

# Report pieces: a step's section is its table and excerpts, appended to $work/sections.md.
begin_step() {
  rows=""
  step_title=$1
  step_t0=$SECONDS
  : >"$work/excerpts.md"
}
note() { echo "$*" >>"$work/excerpts.md"; }
excerpt() {  # excerpt TITLE < text
  local text
  text=$(cat)
  [[ -n $text ]] || text="(nothing)"
  printf '%s:\n%s\n%s\n%s\n' "$1" "$fence" "$text" "$fence" >>"$work/excerpts.md"
}
end_step() {
  {
    echo "## $step_title ($((SECONDS - step_t0)) s)"
    echo
    echo "| log | exit | seconds | timeout |"
    echo "|---|---|---:|---:|"
    printf '%s' "$rows"
    echo
    cat "$work/excerpts.md"
    echo
  } >>"$work/sections.md"
  write_out
}

# report.md and logs.tar.gz under $out, each replaced whole (rename), so a kill between steps
# still leaves the last complete pair.
write_out() {
  {
    echo "# GPU check ($mode), $(date -u +%FT%TZ)"
    echo
    sed 's/^/- /' .gpu/manifest.txt
    echo "- machine: $(uname -srm), $(nproc) CPUs, $(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'glibc ?')"
    echo "- elapsed $SECONDS s of a $BUDGET s budget; failures so far: $failed"
    echo "- logs and run folders: logs.tar.gz"
    echo
    cat "$work/sections.md"
  } >"$out/report.md.tmp"
  mv -f "$out/report.md.tmp" "$out/report.md"
  tar -czf "$out/logs.tar.gz.tmp" -C "$work" --exclude='*.ckpt' logs runs
  if (($(stat -c %s "$out/logs.tar.gz.tmp") > FILE_LIMIT - (1 << 20))); then
    tar -czf "$out/logs.tar.gz.tmp" -C "$work" logs  # the run folders made it too big
  fi
  mv -f "$out/logs.tar.gz.tmp" "$out/logs.tar.gz"
}

# What comes back: at most 8 files, each at most 16 MiB and 64 MiB together, none deeper than
# $out/a/b/file, names of letters, digits, '.', '_' and '-'. Prints each breach.
out_layout_breaches() {
  local n=0 total=0 f rel size
  while IFS= read -r -d '' f; do
    rel=${f#"$out"/}
    [[ $rel =~ ^[A-Za-z0-9._/-]+$ ]] || echo "$rel: a name with other characters"
    if [[ -d $f ]]; then
      (($(tr -cd / <<<"$rel" | wc -c) < 2)) || echo "$rel/: a folder too deep"
      continue
    fi
    n=$((n + 1))
    size=$(stat -c %s "$f")
    total=$((total + size))
    ((size <= FILE_LIMIT)) || echo "$rel: $(mib "$size") (> 16 MiB)"
    (($(tr -cd / <<<"$rel" | wc -c) <= 2)) || echo "$rel: deeper than \$OUT/a/b/file"
  done < <(find "$out" -mindepth 1 -print0)
  ((n <= OUT_FILES)) || echo "$n files (> $OUT_FILES)"
  ((total <= OUT_TOTAL_LIMIT)) || echo "$(mib "$total") in all (> 64 MiB)"
}

# ---------------------------------------------------------------------------------------------
# The steps, by value. Each runs in both modes.

step_environment() {
  begin_step "1. Environment and libraries"
  x 8 nvidia-smi.log - nvidia-smi
  find_cuda_libdirs
  choose_cxx_runtime
  x 5 ldd.log as-is ftenv ldd -r .gpu/bin/*  # -r: also each undefined symbol
  x 10 devices.log as-is ftenv .gpu/bin/flowtrain devices
  local have need
  have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
  need=$(sed -n 's/^needs glibc >= \([0-9.]*\).*/\1/p' .gpu/manifest.txt)
  note "- glibc: ${have:-unknown}; the binaries and .gpu/lib need $need"
  if [[ -n $have && $(printf '%s\n' "$need" "$have" | sort -V | head -n 1) != "$need" ]]; then
    note "**glibc $have is older than the $need the binaries need**: build them on an older system"
    failed=1
  fi
  note "- CUDA library folders: ${cuda_dirs:-NONE FOUND}"
  note "- C++ runtime: $cxx_note"
  local logs=$work/logs
  grep -v '^\$' "$logs/devices.log" | excerpt "flowtrain devices"
  grep -v '^\$' "$logs/nvidia-smi.log" | head -n 30 | excerpt "nvidia-smi"
  grep -e cudart -e cudnn -e cublas -e nccl -e 'not found' -e 'undefined symbol' "$logs/ldd.log" |
    sed -e 's/ (0x[0-9a-f]*)$//' -e 's/^[[:space:]]*//' | sort -u | excerpt "where the CUDA libraries resolve (ldd)"
  if grep -q -e 'not found' -e 'undefined symbol' "$logs/ldd.log"; then
    note "**a library, a version or a symbol is not found**: the binaries cannot start or will stop"
    failed=1
    if [[ $mode == dry ]]; then violate "ldd: $(grep -e 'not found' -e 'undefined symbol' "$logs/ldd.log" | sort -u | tr -s ' \t\n' ' ')"; fi
  fi
  if [[ $mode == run ]] && ! grep -q '^GPU 0: ' "$logs/devices.log"; then
    note "**no usable GPU**: the suites below will skip their GPU cases"
    failed=1
  fi
  end_step
}

# doctest's summary, the cases skipped for want of a GPU, the first failures.
suite_excerpt() {
  local logf="$work/logs/$1"
  {
    grep -e '^\[doctest\] test cases' -e '^\[doctest\] assertions' -e 'skipped: ' "$logf" | sort -u
    grep -e 'MESSAGE: ' "$logf" | grep -v 'skipped: ' | head -n 30  # e.g. nondeterministic algorithms
    grep -A 4 -e 'ERROR:' -e 'FATAL' "$logf" | head -n 60
  } | excerpt "$1"
  if [[ $mode == run ]] && grep -q 'skipped: ' "$logf"; then failed=1; fi
  return 0
}

# Every GPU suite but its benchmark cases: test_nn_gpu (each layer, whole models, SGD steps)
# needs the most, as its CPU side computes the references.
step_conformance() {
  begin_step "2. CUDA vs CPU conformance"
  local suite name seconds
  for suite in .gpu/bin/test_*; do
    name=$(basename "$suite")
    case $name in
      test_nn_gpu) seconds=100 ;;
      test_augment_gpu) seconds=40 ;;
      test_dist_gpu) seconds=10 ;;
      *) seconds=25 ;;
    esac
    x "$seconds" "$name.log" list ftenv "$suite" --test-case-exclude="$BENCH_CASES" --duration=true
  done
  for suite in .gpu/bin/test_*; do suite_excerpt "$(basename "$suite").log"; done
  end_step
}

# configs/tiny.toml on the subset for 3 epochs: on the GPU (batches augmented on the GPU and
# handed over in device memory), then on the CPU; each writes metrics and summary.json. Then the
# GPU run again at [run] precision = "bf16" (the config path to cuDNN's bf16 tensor cores).
step_end_to_end() {
  begin_step "3. End to end: configs/tiny.toml, 3 epochs on 2000 images, GPU beside CPU, GPU in bf16"
  local e2e=(--set "data.train.images=\"$DATA/train\"" --set "data.train.labels=\"$DATA/train.csv\""
    --set "data.val.images=\"$DATA/test\"" --set "data.val.labels=\"$DATA/test.csv\""
    --set run.epochs=3 --set run.threads=4 --set run.omp_threads=4 --set "run.runs_dir=\"$work/runs\"")
  x 40 e2e_gpu.log dry-run ftenv .gpu/bin/flowtrain run configs/tiny.toml "${e2e[@]}" \
    --set 'run.device="cuda"' --set 'augment.device="cuda"' --set 'augment.output="device"' --set 'run.name="tiny_gpu"'
  x 40 e2e_cpu.log dry-run ftenv .gpu/bin/flowtrain run configs/tiny.toml "${e2e[@]}" --set 'run.name="tiny_cpu"'
  x 25 e2e_gpu_bf16.log dry-run ftenv .gpu/bin/flowtrain run configs/tiny.toml "${e2e[@]}" \
    --set 'run.device="cuda"' --set 'augment.device="cuda"' --set 'augment.output="device"' \
    --set 'run.precision="bf16"' --set 'run.name="tiny_gpu_bf16"'
  local top1_gpu top1_cpu top1_bf16
  top1_gpu=$(grep -o '"val_top1": [0-9.]*' "$work/runs/tiny_gpu/summary.json" 2>/dev/null | awk '{ print $2 }' || true)
  top1_cpu=$(grep -o '"val_top1": [0-9.]*' "$work/runs/tiny_cpu/summary.json" 2>/dev/null | awk '{ print $2 }' || true)
  top1_bf16=$(grep -o '"val_top1": [0-9.]*' "$work/runs/tiny_gpu_bf16/summary.json" 2>/dev/null | awk '{ print $2 }' || true)
  note "- val top-1: GPU ${top1_gpu:-?}, CPU ${top1_cpu:-?} (same recipe and seed; the GPU sums convolutions in another order, so expect them close, not equal); GPU in bf16 ${top1_bf16:-?}"
  tail -n 6 "$work/logs/e2e_gpu.log" | excerpt "GPU run"
  tail -n 6 "$work/logs/e2e_cpu.log" | excerpt "CPU run"
  tail -n 6 "$work/logs/e2e_gpu_bf16.log" | excerpt "GPU run in bf16"
  head -c 4000 "$work/runs/tiny_gpu/summary.json" 2>/dev/null | excerpt "GPU run's summary.json"
  end_step
}

step_benchmarks() {
  begin_step "4. Benchmarks: kernel bandwidth, train-step throughput, the PyTorch peer"
  x 25 augment_bench.log list ftenv ".gpu/bin/${BENCH_SUITES[0]}" --test-case="$BENCH_CASES"
  x 65 nn_bench.log list ftenv ".gpu/bin/${BENCH_SUITES[1]}" --test-case="$BENCH_CASES"
  x 80 torch_peer.log python env PYTHONUNBUFFERED=1 /opt/torch/.venv/bin/python tools/bench_train_gpu.py
  grep -e 'GB/s' -e 'copy' -e 'ERROR' "$work/logs/augment_bench.log" | excerpt "augment kernels"
  grep -e 'train step' -e 'ERROR' "$work/logs/nn_bench.log" | excerpt "flowtrain train step"
  grep -v '^\$' "$work/logs/torch_peer.log" | tail -n 20 | excerpt "PyTorch peer"
  end_step
}

# ---------------------------------------------------------------------------------------------
# dry: the pack, its libraries and sizes, the budget and the output layout

check_pack() {
  local f
  for f in .gpu/manifest.txt "${BENCH_SUITES[@]/#/.gpu/bin/}" .gpu/bin/flowtrain \
    "$DATA/train.csv" "$DATA/test.csv" "$DATA/train" "$DATA/test" configs/tiny.toml tools/bench_train_gpu.py; do
    [[ -e $f ]] || die "$f is missing: run tools/gpu_check.sh pack first"
  done
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git check-ignore -q .gpu/manifest.txt; then
    violate ".gpu/ is not ignored by git: it would travel twice"
  fi
}

# Every carried file's needs resolve to .gpu/ (or are glibc or the device's CUDA), nothing of
# glibc or CUDA is carried, debug symbols are stripped, and what travels fits 64 MiB.
check_carried() {
  local f name arrow path rest
  for f in .gpu/bin/* .gpu/lib/* .gpu/lib-cxx/*; do
    name=$(basename "$f")
    if [[ $name =~ $GLIBC_LIBS || $name =~ $DEVICE_CUDA_LIBS ]]; then violate "$f is carried: the device has its own"; fi
    if readelf -S "$f" 2>/dev/null | grep -q '\.debug_info'; then violate "$f: not stripped"; fi
    while read -r name arrow path rest; do
      [[ $arrow == "=>" ]] || continue
      [[ $name =~ $DEVICE_CUDA_LIBS ]] && continue  # the device provides it
      if [[ $path == "not" ]]; then violate "$f needs $name: not found"; continue; fi
      [[ $name =~ $GLIBC_LIBS ]] && continue
      [[ $path == "$PWD/.gpu/"* || $path == .gpu/* ]] || violate "$f needs $name from $path: not carried"
    done < <(env LD_LIBRARY_PATH="$PWD/.gpu/lib:$PWD/.gpu/lib-cxx" ldd "$f" 2>&1)
  done
  local carried tree
  carried=$(du -sb .gpu | cut -f1)
  tree=$(git ls-files -z -co --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -n 1 | cut -f1)
  echo "gpu_check dry: travels $(mib $((carried + tree))): .gpu/ $(mib "$carried") + working tree $(mib "$tree") (limit 64 MiB)"
  ((carried + tree <= TREE_LIMIT)) || violate "what travels is $(mib $((carried + tree))) (> 64 MiB)"
}

# ---------------------------------------------------------------------------------------------

main() {
  mode=${1:-}
  case $mode in
    pack) pack; return ;;
    dry | run) shift ;;
    *) echo "usage: tools/gpu_check.sh pack | dry | run [STEP...]" >&2; exit 2 ;;
  esac
  local s steps=("${STEPS[@]}")
  if (($#)); then
    for s in "$@"; do [[ " ${STEPS[*]} " == *" $s "* ]] || die "unknown step $s (steps: ${STEPS[*]})"; done
    steps=(environment "${@/environment/}")  # the library path comes from the environment step
  fi
  # From here on a failing command must not end the check: each is recorded, and the next runs.
  set +e +o pipefail
  [[ -f .gpu/manifest.txt ]] || die ".gpu/ is not packed: run tools/gpu_check.sh pack first"
  work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
  mkdir -p "$work/logs" "$work/runs"
  : >"$work/sections.md"
  if [[ $mode == dry ]]; then
    out=.gpu/dry-out  # stands in for the device's $OUT; kept for a look
    rm -rf "$out" && mkdir -p "$out"
    trap 'rm -rf "$work"' EXIT
    check_pack
  else
    out=${OUT:-.gpu/out}
    mkdir -p "$out"
  fi
  for s in "${steps[@]}"; do [[ -n $s ]] && "step_$s"; done
  local breaches
  breaches=$(out_layout_breaches)
  if [[ $mode == run ]]; then
    if [[ -n $breaches ]]; then
      printf '## Output layout breaches\n%s\n%s\n%s\n' "$fence" "$breaches" "$fence" >>"$work/sections.md"
      write_out
    fi
    cat "$out/report.md"
    return $((failed != 0))
  fi
  while read -r b; do if [[ -n $b ]]; then violate "\$OUT: $b"; fi; done <<<"$breaches"
  check_carried
  echo "gpu_check dry: worst case $planned s of timeouts (each + ${KILL_AFTER} s kill grace) for a $BUDGET s budget"
  ((planned <= BUDGET)) || violate "the step timeouts sum to $planned s, over the budget of $BUDGET s"
  ((BUDGET <= 540)) || violate "GPU_CHECK_BUDGET $BUDGET s leaves too little of the 600 s a command may run"
  [[ ${LD_LIBRARY_PATH:-} != *.gpu* ]] || violate "LD_LIBRARY_PATH names .gpu for every command, the PyTorch peer too"
  echo "gpu_check dry: \$OUT would hold $(find "$out" -type f | wc -l) files: $(cd "$out" && find . -type f -printf '%P (%s bytes) ' )"
  if ((${#violations[@]})); then
    printf 'gpu_check dry: FAILED, %d violation(s):\n' "${#violations[@]}" >&2
    printf '  %s\n' "${violations[@]}" >&2
    exit 1
  fi
  echo "gpu_check dry: OK: every step ran up to its first CUDA call; libraries, sizes and layout fit (report: $out/report.md)"
}

main "$@"

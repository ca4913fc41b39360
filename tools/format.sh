#!/usr/bin/env bash
# The C++/CUDA sources follow the checked-in .clang-format (clang-format 14, Debian 12's).
#   tools/format.sh          reformat every tracked source in place
#   tools/format.sh --check  list the files that differ and exit 1 (the test command runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp' '*.cu' '*.cuh')
if [[ "${1:-}" == "--check" ]]; then
  bad=()
  for f in "${files[@]}"; do
    clang-format --dry-run "$f" 2>&1 | grep -q 'code should be clang-formatted' && bad+=("$f")
  done
  if ((${#bad[@]})); then
    printf 'not clang-formatted (run tools/format.sh): %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} sources follow .clang-format"
else
  clang-format -i "${files[@]}"
fi

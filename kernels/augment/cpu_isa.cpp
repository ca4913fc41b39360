// Run-time choice of the CPU loops' vector level (see cpu_isa.hpp).
#include "kernels/augment/cpu_isa.hpp"

#include <atomic>

namespace ft::aug {

namespace {

CpuIsa detect() {
  __builtin_cpu_init();
  // Every AVX-512 CPU has AVX2; the avx512 level runs the AVX2 loops too.
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2")) return CpuIsa::avx512;
  return __builtin_cpu_supports("avx2") ? CpuIsa::avx2 : CpuIsa::sse41;
}

std::atomic<CpuIsa>& current() {
  static std::atomic<CpuIsa> isa{best_cpu_isa()};
  return isa;
}

}  // namespace

CpuIsa best_cpu_isa() {
  static const CpuIsa best = detect();
  return best;
}

CpuIsa cpu_isa() { return current().load(std::memory_order_relaxed); }

CpuIsa set_cpu_isa(CpuIsa isa) {
  const CpuIsa v = static_cast<int>(isa) <= static_cast<int>(best_cpu_isa()) ? isa : best_cpu_isa();
  current().store(v, std::memory_order_relaxed);
  return v;
}

}  // namespace ft::aug

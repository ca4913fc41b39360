// A host emulation of the CUDA built-ins in which a block's threads really run together: each is
// a std::thread, __syncthreads is a std::barrier, blocks run one after another (so __shared__ as a
// function-local static is per block). For kernels whose blocks synchronise (shared-memory trees),
// which tests/cuda_emulation.hpp can only run with one thread per block. Include it BEFORE the
// kernel header, and not together with tests/cuda_emulation.hpp in one file; everything here has
// internal linkage, so both may live in one test binary.
#pragma once

#include <atomic>
#include <barrier>
#include <thread>
#include <vector>

namespace {

struct BlockEmuDim3 {
  unsigned x = 1, y = 1, z = 1;
};
BlockEmuDim3 blockIdx, blockDim, gridDim;
thread_local BlockEmuDim3 threadIdx;
std::barrier<>* block_barrier = nullptr;

inline void __syncthreads() { block_barrier->arrive_and_wait(); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline unsigned atomicAdd(unsigned* p, unsigned v) {
  return std::atomic_ref<unsigned>(*p).fetch_add(v);
}

// Runs f on `threads` threads for each block of a gx x gy grid, blocks in row-major order.
template <class F>
void emulate_block_launch(unsigned gx, unsigned gy, unsigned threads, F f) {
  blockDim = {threads, 1, 1};
  gridDim = {gx, gy, 1};
  std::barrier<> barrier(static_cast<std::ptrdiff_t>(threads));
  block_barrier = &barrier;
  for (unsigned by = 0; by < gy; ++by)
    for (unsigned bx = 0; bx < gx; ++bx) {
      blockIdx = {bx, by, 0};
      std::vector<std::jthread> team;
      team.reserve(threads);
      for (unsigned t = 0; t < threads; ++t)
        team.emplace_back([t, &f] {
          threadIdx = {t, 0, 0};
          f();
        });
    }  // the jthreads join here: the block is done before the next starts
  block_barrier = nullptr;
}

}  // namespace

#define __global__
#define __device__
#define __shared__ static

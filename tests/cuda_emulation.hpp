// A minimal host emulation of the CUDA built-ins the project's kernels use, so kernel code
// (cuda_kernels.cuh, kernels/nn/cuda/kernels.cuh) compiles as host C++ and runs thread by thread
// in tests on machines without a GPU. Include it BEFORE the kernel header. Blocks run one after
// another and threads one at a time, so __syncthreads is a no-op: kernels that synchronise
// inside a block must be launched with one thread per block.
#pragma once

struct EmuDim3 {
  unsigned x = 1, y = 1, z = 1;
};
inline EmuDim3 blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __shared__ static
inline void __syncthreads() {}
inline unsigned atomicAdd(unsigned* p, unsigned v) {
  const unsigned old = *p;
  *p += v;
  return old;
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  const unsigned long long old = *p;
  *p += v;
  return old;
}

// Runs f for every (block, thread) of a gx x gy grid of `threads`-thread blocks, one at a time.
template <class F>
void emulate_launch(unsigned gx, unsigned gy, unsigned threads, F f) {
  blockDim = {threads, 1, 1};
  gridDim = {gx, gy, 1};
  for (unsigned by = 0; by < gy; ++by)
    for (unsigned bx = 0; bx < gx; ++bx)
      for (unsigned t = 0; t < threads; ++t) {
        blockIdx = {bx, by, 0};
        threadIdx = {t, 0, 0};
        f();
      }
}

// Deterministic reductions of the CUDA layers and the optimizer: per-channel sums parallel over
// N*H*W (two stages), the squared norm and the scale of many tensors in one launch each. Each sum
// is a fixed tree over a fixed partition (reduction_plan.hpp; no atomics on values, nothing that
// depends on which block runs first), so results repeat bit for bit. Launch with kReduceThreads
// threads per block. tests/kernels/nn/cuda_costs_emulation_test.cpp runs them as host code with
// real block barriers (tests/cuda_block_emulation.hpp). Kernels are static, as in kernels.cuh.
#pragma once

#include <cstdint>

#include "kernels/nn/cuda/reduction_plan.hpp"

namespace ft::nn::cuda {

// partial[0] = the sum of partial[0 .. blockDim.x), pairwise (s = blockDim.x / 2, /4, ...). Every
// thread of the block must call it, after writing its own partial[threadIdx.x].
template <class T>
static __device__ void block_tree_sum(T* partial) {
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
}

// ---- per-channel sums (convolution bias gradient) ---------------------------------------------

// Stage 1, grid (plan.chunks, channels): block (k, c) sums run k of channel c (values k * chunk ..
// of the channel's per_channel = n * hw values, sample by sample): thread t adds values t,
// t + blockDim.x, ... in order, then a tree. partial[c * gridDim.x + k] = the run's sum.
static __global__ void channel_sums_partial(float* partial, const float* m, int channels,
                                            std::int64_t hw, std::int64_t per_channel,
                                            std::int64_t chunk) {
  __shared__ float acc[kReduceThreads];
  const unsigned c = blockIdx.y, k = blockIdx.x;
  const std::int64_t begin = k * chunk;
  const std::int64_t end = begin + chunk < per_channel ? begin + chunk : per_channel;
  float s = 0.f;
  for (std::int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const std::int64_t b = e / hw;
    s += m[(b * channels + c) * hw + (e - b * hw)];
  }
  acc[threadIdx.x] = s;
  block_tree_sum(acc);
  if (threadIdx.x == 0) partial[std::int64_t{c} * gridDim.x + k] = acc[0];
}

// Stage 2: sums[c] += the sum of channel c's `chunks` run sums, in run order (one thread per
// channel, grid-stride).
static __global__ void channel_sums_finish(float* sums, const float* partial, int channels,
                                           unsigned chunks) {
  for (std::int64_t c = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; c < channels;
       c += std::int64_t{blockDim.x} * gridDim.x) {
    float s = 0.f;
    for (unsigned k = 0; k < chunks; ++k) s += partial[c * chunks + k];
    sums[c] += s;
  }
}

// ---- multi-tensor kernels (one launch over every parameter tensor) -----------------------------

// *out = the sum of x^2 over every chunk of the table, in double (gradient clipping's norm).
// Block b takes chunks b, b + gridDim.x, ...; thread t adds elements t, t + blockDim.x, ... of
// each; a tree gives block_sums[b]. The block that finishes last (by the ticket) adds block_sums
// in a fixed strided-then-tree order (which block is last does not change the result), writes
// *out and re-arms the ticket to 0 for the next launch. block_sums holds gridDim.x doubles.
static __global__ void multi_tensor_squared_norm(double* out, double* block_sums, unsigned* ticket,
                                                 const TensorChunk* chunks, int count) {
  __shared__ double acc[kReduceThreads];
  __shared__ bool last;
  double s = 0.0;
  for (int k = static_cast<int>(blockIdx.x); k < count; k += static_cast<int>(gridDim.x)) {
    const float* x = chunks[k].data;
    const std::int64_t n = chunks[k].n;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
      s += static_cast<double>(x[i]) * x[i];
  }
  acc[threadIdx.x] = s;
  block_tree_sum(acc);
  if (threadIdx.x == 0) {
    block_sums[blockIdx.x] = acc[0];
    __threadfence();  // the block's sum is visible device-wide before the ticket counts it
    last = atomicAdd(ticket, 1u) == gridDim.x - 1;
  }
  __syncthreads();
  if (!last) return;
  // Volatile: read what the other blocks wrote, not a cached line.
  const volatile double* sums = block_sums;
  double t = 0.0;
  for (unsigned b = threadIdx.x; b < gridDim.x; b += blockDim.x) t += sums[b];
  acc[threadIdx.x] = t;
  block_tree_sum(acc);
  if (threadIdx.x == 0) {
    *out = acc[0];
    *ticket = 0;
  }
}

// x *= s for every element of every chunk (clipping), as scale_array does per tensor.
static __global__ void multi_tensor_scale(const TensorChunk* chunks, int count, float s) {
  for (int k = static_cast<int>(blockIdx.x); k < count; k += static_cast<int>(gridDim.x)) {
    float* x = chunks[k].data;
    const std::int64_t n = chunks[k].n;
    for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) x[i] *= s;
  }
}

}  // namespace ft::nn::cuda

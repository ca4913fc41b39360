// SyncBatchNorm's CUDA kernels on NCHW tensors (the per-channel arithmetic is
// kernels/nn/batch_norm_sync.hpp's, shared with the CPU loops). bn_channel_sums runs one block of
// kBnStatThreads per channel and sums in double along a fixed tree, so results repeat bit for bit.
// Kernels are static (as in kernels.cuh), and written with the built-ins only, so that
// tests/kernels/dist/bn_sync_emulation_test.cpp runs them as host code against the CPU loops.
#pragma once

#include <cstdint>

#include "kernels/nn/batch_norm_sync.hpp"
#include "kernels/nn/cuda/reductions.cuh"

namespace ft::nn::cuda {

inline constexpr unsigned kBnStatThreads = 256;  // bn_channel_sums' block: a power of two

// Grid (channels), block of kBnStatThreads (or fewer, a power of two). sums[c] = the sum of
// channel c of a (n, channels, hw), sums[channels + c] = its sum of squares; or, with b given,
// the sums of a and of a * (b - mean[c]) * invstd[c] (dy' and dy' * x_hat, b = x).
static __global__ void bn_channel_sums(double* sums, const float* a, const float* b,
                                       const float* mean, const float* invstd, int channels,
                                       std::int64_t hw, std::int64_t n) {
  __shared__ double s1[kBnStatThreads], s2[kBnStatThreads];
  const int c = static_cast<int>(blockIdx.x);
  double p1 = 0, p2 = 0;
  for (std::int64_t e = threadIdx.x; e < n * hw; e += blockDim.x) {
    const std::int64_t i = (e / hw * channels + c) * hw + e % hw;
    const float v = a[i];
    p1 += v;
    p2 += b ? double{v} * ((b[i] - mean[c]) * invstd[c]) : double{v} * v;
  }
  s1[threadIdx.x] = p1;
  s2[threadIdx.x] = p2;
  block_tree_sum(s1);
  block_tree_sum(s2);
  if (threadIdx.x == 0) {
    sums[c] = s1[0];
    sums[channels + c] = s2[0];
  }
}

// The grid-stride loop of the element-wise kernels below.
#define FT_BN_GRID_LOOP(i, n)                                                         \
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < (n); \
       i += std::int64_t{blockDim.x} * gridDim.x)

// dgamma += this process's sum of dy' * x_hat, dbeta += its sum of dy' (sums as bn_channel_sums).
static __global__ void bn_add_local_grads(float* dgamma, float* dbeta, const double* sums,
                                          int channels) {
  FT_BN_GRID_LOOP(c, channels) {
    dgamma[c] += static_cast<float>(sums[channels + c]);
    dbeta[c] += static_cast<float>(sums[c]);
  }
}

// stats = (mean, biased var, invstd, unbiased var) of the global batch, each (channels).
static __global__ void bn_update_running(float* running_mean, float* running_var,
                                         const float* stats, int channels, float momentum) {
  FT_BN_GRID_LOOP(c, channels) {
    running_mean[c] = running_update(running_mean[c], stats[c], momentum);
    running_var[c] = running_update(running_var[c], stats[3 * channels + c], momentum);
  }
}

// dx = grad[c](x, dy') over (n, channels, hw); dy' already masked by the fused ReLU.
static __global__ void bn_sync_input_grad(float* dx, const float* x, const float* dy,
                                          const BatchNormInputGrad* grad, int channels,
                                          std::int64_t hw, std::int64_t numel) {
  FT_BN_GRID_LOOP(i, numel) { dx[i] = grad[(i / hw) % channels](x[i], dy[i]); }
}

#undef FT_BN_GRID_LOOP

}  // namespace ft::nn::cuda

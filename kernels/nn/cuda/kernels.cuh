// Device kernels of the CUDA layers: the elementwise layers, dropout, pooling, bias adds and bias
// gradients, the gradient norm and the SGD step. Each reproduces its CPU layer's arithmetic
// (kernels/nn/cpu, kernels/optim/sgd.cpp) in the same order, so results match bit for bit (max
// pool backward: see there); no atomics, so every result is run-to-run deterministic. Element
// kernels are grid-stride loops over 64-bit indices: any grid covers any size. Tensors are NCHW.
// tests/kernels/nn/cuda_nn_emulation_test.cpp runs them as host code against the CPU layers.
// Kernels are static: every .cu that includes this gets its own copy, and the emulation test's
// host-compiled copies cannot clash with nvcc's launch stubs at link time.
#pragma once

#include <cstdint>

#include "kernels/optim/sgd_math.hpp"
#include "kernels/random/philox.hpp"

namespace ft::nn::cuda {

// Word k of the stream rng::Philox(seed, epoch, sample, op), without drawing words 0..k-1: the
// same counter {block, epoch, sample_lo, sample_hi_op} as Philox::next_u32 and the same
// conversion as Philox::uniform.
FT_HD inline float philox_uniform_at(std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
                                     std::uint32_t op, std::uint64_t k) {
  const std::uint32_t sample_hi_op =
      (static_cast<std::uint32_t>(sample >> 32) & 0xFFFFu) | (op << 16);
  const rng::U32x4 r =
      rng::philox4x32_10(rng::U32x4{{static_cast<std::uint32_t>(k >> 2), epoch,
                                     static_cast<std::uint32_t>(sample), sample_hi_op}},
                         static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  const unsigned j = static_cast<unsigned>(k & 3u);
  const std::uint32_t word = j == 0 ? r.v[0] : j == 1 ? r.v[1] : j == 2 ? r.v[2] : r.v[3];
  return static_cast<float>(word >> 8) * (1.0f / 16777216.0f);
}

static __device__ inline std::int64_t grid_start() {
  return blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
}
static __device__ inline std::int64_t grid_step() {
  return static_cast<std::int64_t>(blockDim.x) * gridDim.x;
}

// ---- elementwise ------------------------------------------------------------------------------

static __global__ void relu_forward(float* y, const float* x, std::int64_t n) {
  for (std::int64_t i = grid_start(); i < n; i += grid_step()) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

// dx = dy where the output was positive (CPU Relu and the fused ReLU of ResidualAdd).
static __global__ void relu_backward(float* dx, const float* y, const float* dy, std::int64_t n) {
  for (std::int64_t i = grid_start(); i < n; i += grid_step()) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

// The residual join y = a + b, ReLU after the sum when `relu`.
static __global__ void add_forward(float* y, const float* a, const float* b, std::int64_t n,
                                   bool relu) {
  for (std::int64_t i = grid_start(); i < n; i += grid_step()) {
    const float s = a[i] + b[i];
    y[i] = relu ? (s > 0.f ? s : 0.f) : s;
  }
}

static __global__ void add_arrays(float* y, const float* a, const float* b, std::int64_t n) {
  for (std::int64_t i = grid_start(); i < n; i += grid_step()) y[i] = a[i] + b[i];
}

static __global__ void mul_arrays(float* y, const float* a, const float* b, std::int64_t n) {
  for (std::int64_t i = grid_start(); i < n; i += grid_step()) y[i] = a[i] * b[i];
}

static __global__ void scale_array(float* x, float s, std::int64_t n) {
  for (std::int64_t i = grid_start(); i < n; i += grid_step()) x[i] *= s;
}

// Training-mode dropout over `total` = N * per_sample elements: element (n, k) keeps iff draw k
// of philox(seed, step, n, index) is >= p, as the CPU layer draws them in sequence.
static __global__ void dropout_forward(float* y, float* mask, const float* x,
                                       std::int64_t per_sample, std::int64_t total, float p,
                                       std::uint64_t seed, std::uint64_t step, int index) {
  const float scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
  for (std::int64_t i = grid_start(); i < total; i += grid_step()) {
    const std::int64_t n = i / per_sample, k = i % per_sample;
    const float u =
        philox_uniform_at(seed, static_cast<std::uint32_t>(step), static_cast<std::uint64_t>(n),
                          static_cast<std::uint32_t>(index), static_cast<std::uint64_t>(k));
    mask[i] = u >= p ? scale : 0.f;
    y[i] = x[i] * mask[i];
  }
}

// ---- pooling ----------------------------------------------------------------------------------

// MaxPool2d geometry; oh, ow from max_pool_output (kernels/nn/geometry.hpp, floor mode).
struct PoolGeom {
  int n, c, h, w, oh, ow, kernel, stride, padding;
};

// One thread per output; positions in the padding are skipped. argmax: the plane-local index
// ih * w + iw of the first maximum in row-major window order (as oneDNN and PyTorch pick).
static __global__ void max_pool_forward(float* y, std::int32_t* argmax, const float* x,
                                        PoolGeom g) {
  const std::int64_t total = std::int64_t{g.n} * g.c * g.oh * g.ow;
  for (std::int64_t i = grid_start(); i < total; i += grid_step()) {
    const int ox = static_cast<int>(i % g.ow), oy = static_cast<int>(i / g.ow % g.oh);
    const float* xp = x + i / (std::int64_t{g.oh} * g.ow) * g.h * g.w;
    const int y0 = oy * g.stride - g.padding, x0 = ox * g.stride - g.padding;
    float best = 0.f;
    std::int32_t arg = -1;
    for (int iy = y0 < 0 ? 0 : y0; iy < y0 + g.kernel && iy < g.h; ++iy)
      for (int ix = x0 < 0 ? 0 : x0; ix < x0 + g.kernel && ix < g.w; ++ix) {
        const float v = xp[iy * g.w + ix];
        if (arg < 0 || v > best) {
          best = v;
          arg = iy * g.w + ix;
        }
      }
    y[i] = best;
    argmax[i] = arg;
  }
}

// One thread per input (a gather, no atomics): dx = the sum of dy over the outputs whose window
// holds this input as its argmax, in row-major output order (as PyTorch's CUDA kernel). oneDNN
// adds in an ISA-dependent order: where 3+ outputs pick one input the last bits may differ.
static __global__ void max_pool_backward(float* dx, const float* dy, const std::int32_t* argmax,
                                         PoolGeom g) {
  const std::int64_t total = std::int64_t{g.n} * g.c * g.h * g.w;
  for (std::int64_t i = grid_start(); i < total; i += grid_step()) {
    const int ix = static_cast<int>(i % g.w), iy = static_cast<int>(i / g.w % g.h);
    const std::int64_t out0 = i / (std::int64_t{g.h} * g.w) * g.oh * g.ow;
    // Outputs o with o * stride - padding <= iy <= o * stride - padding + kernel - 1.
    const int ly = iy + g.padding - g.kernel + 1, lx = ix + g.padding - g.kernel + 1;
    const int oy0 = ly <= 0 ? 0 : (ly + g.stride - 1) / g.stride,
              ox0 = lx <= 0 ? 0 : (lx + g.stride - 1) / g.stride;
    const int oy1 = (iy + g.padding) / g.stride, ox1 = (ix + g.padding) / g.stride;
    const std::int32_t self = iy * g.w + ix;
    float s = 0.f;
    for (int oy = oy0; oy <= oy1 && oy < g.oh; ++oy)
      for (int ox = ox0; ox <= ox1 && ox < g.ow; ++ox) {
        const std::int64_t o = out0 + std::int64_t{oy} * g.ow + ox;
        if (argmax[o] == self) s += dy[o];
      }
    dx[i] = s;
  }
}

// One thread per (n, c) plane of hw values: the float sum in order, then / hw.
static __global__ void global_avg_pool_forward(float* y, const float* x, std::int64_t nc, int hw) {
  for (std::int64_t p = grid_start(); p < nc; p += grid_step()) {
    const float* xp = x + p * hw;
    float s = 0.f;
    for (int k = 0; k < hw; ++k) s += xp[k];
    y[p] = s / static_cast<float>(hw);
  }
}

static __global__ void global_avg_pool_backward(float* dx, const float* dy, std::int64_t nc,
                                                int hw) {
  const std::int64_t total = nc * hw;
  for (std::int64_t i = grid_start(); i < total; i += grid_step())
    dx[i] = dy[i / hw] / static_cast<float>(hw);
}

// ---- biases -----------------------------------------------------------------------------------

// Linear: y (rows x cols) += bias per column.
static __global__ void add_bias_rows(float* y, const float* bias, std::int64_t rows, int cols) {
  const std::int64_t total = rows * cols;
  for (std::int64_t i = grid_start(); i < total; i += grid_step()) y[i] += bias[i % cols];
}

// Convolution: y (planes = N * channels planes of hw) += bias per channel.
static __global__ void add_bias_channels(float* y, const float* bias, std::int64_t planes,
                                         int channels, int hw) {
  const std::int64_t total = planes * hw;
  for (std::int64_t i = grid_start(); i < total; i += grid_step()) y[i] += bias[i / hw % channels];
}

// Linear bias gradient: sums[c] += the column sum of m (rows x cols), one thread per column,
// rows added in order.
static __global__ void column_sums_accumulate(float* sums, const float* m, std::int64_t rows,
                                              int cols) {
  for (std::int64_t c = grid_start(); c < cols; c += grid_step()) {
    float s = 0.f;
    for (std::int64_t r = 0; r < rows; ++r) s += m[r * cols + c];
    sums[c] += s;
  }
}

// Convolution bias gradient: sums[c] += the sum of channel c over the batch and the hw plane. One
// block per channel (grid-stride over channels), its threads over the batch's planes, each adding
// its planes in memory order, then a shared-memory tree. blockDim.x a power of two <= 256 (launch
// with 256); with one thread it is the plain loop over (plane, element).
static __global__ void channel_sums_accumulate(float* sums, const float* m, int n, int channels,
                                               int hw) {
  __shared__ float partial[256];
  for (int c = static_cast<int>(blockIdx.x); c < channels; c += static_cast<int>(gridDim.x)) {
    float acc = 0.f;
    for (int b = static_cast<int>(threadIdx.x); b < n; b += static_cast<int>(blockDim.x)) {
      const float* mp = m + (std::int64_t{b} * channels + c) * hw;
      for (int k = 0; k < hw; ++k) acc += mp[k];
    }
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0) sums[c] += partial[0];
    __syncthreads();  // partial is reused for the next channel
  }
}

// ---- optimizer --------------------------------------------------------------------------------

// *out += sum of x[i]^2 in double (gradient clipping's norm, called once per tensor). ONE block
// only, blockDim.x a power of two <= 256 (launch with 256): strided per-thread partials, then a
// shared-memory tree.
static __global__ void sum_squares(double* out, const float* x, std::int64_t n) {
  __shared__ double partial[256];
  double acc = 0.0;
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x)
    acc += static_cast<double>(x[i]) * x[i];
  partial[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out += partial[0];
}

// optim::sgd_update on the device: the same flags, the same per-element arithmetic.
static __global__ void sgd_update_kernel(float* value, float* momentum_buffer, const float* grad,
                                         std::int64_t n, float lr, float momentum, float dampening,
                                         float weight_decay, bool nesterov, bool first) {
  const float neg_lr = -lr, keep = 1.0f - dampening;
  const std::int64_t i0 = grid_start(), di = grid_step();
  if (momentum == 0.0f) {
    for (std::int64_t i = i0; i < n; i += di)
      optim::sgd_element<false, false, false>(value[i], grad[i], nullptr, neg_lr, momentum, keep,
                                              weight_decay);
  } else if (first && nesterov) {
    for (std::int64_t i = i0; i < n; i += di)
      optim::sgd_element<true, true, true>(value[i], grad[i], momentum_buffer + i, neg_lr, momentum,
                                           keep, weight_decay);
  } else if (first) {
    for (std::int64_t i = i0; i < n; i += di)
      optim::sgd_element<true, false, true>(value[i], grad[i], momentum_buffer + i, neg_lr,
                                            momentum, keep, weight_decay);
  } else if (nesterov) {
    for (std::int64_t i = i0; i < n; i += di)
      optim::sgd_element<true, true, false>(value[i], grad[i], momentum_buffer + i, neg_lr,
                                            momentum, keep, weight_decay);
  } else {
    for (std::int64_t i = i0; i < n; i += di)
      optim::sgd_element<true, false, false>(value[i], grad[i], momentum_buffer + i, neg_lr,
                                             momentum, keep, weight_decay);
  }
}

}  // namespace ft::nn::cuda

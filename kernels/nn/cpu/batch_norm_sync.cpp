// SyncBatchNorm's CPU loops (see batch_norm_sync.hpp). A tensor is visited as (channel block,
// sample) runs of h * w pixels of `block` channels each (block 1 for NCHW).
#include "kernels/nn/cpu/batch_norm_sync.hpp"

#include <algorithm>
#include <cstdint>

#include "kernels/nn/cpu/layers.hpp"

namespace ft::nn::cpu {
namespace {

constexpr int kMaxBlock = 16;

// f(first channel, valid lanes, block, offset of the run, pixels): every run of the tensor; runs
// of one channel block go to one thread, in sample order.
template <class F>
void for_each_run(const Shape& s, F f) {
  const int block = s.channel_block();
  const int blocks = s.padded_c() / block;
  const std::int64_t pixels = std::int64_t{s.h} * s.w;
#pragma omp parallel for schedule(static) if (s.storage() >= kParallelMin)
  for (int cb = 0; cb < blocks; ++cb) {
    const int c0 = cb * block;
    const int lanes = std::min(block, s.c - c0);
    for (int n = 0; n < s.n; ++n)
      f(c0, lanes, block, (std::int64_t{n} * blocks + cb) * pixels * block, pixels);
  }
}

inline float masked(float dy, float y, bool relu) { return relu && !(y > 0.f) ? 0.f : dy; }

}  // namespace

void channel_sums(double* sums, const float* x, const Shape& s) {
  std::fill(sums, sums + 2 * s.c, 0.0);
  for_each_run(s, [&](int c0, int lanes, int block, std::int64_t at, std::int64_t pixels) {
    double a[kMaxBlock] = {}, q[kMaxBlock] = {};
    for (std::int64_t p = 0; p < pixels; ++p) {
      const float* v = x + at + p * block;
      for (int j = 0; j < lanes; ++j) {
        a[j] += v[j];
        q[j] += double{v[j]} * v[j];
      }
    }
    for (int j = 0; j < lanes; ++j) {
      sums[c0 + j] += a[j];
      sums[s.c + c0 + j] += q[j];
    }
  });
}

void channel_grad_sums(double* sums, const float* x, const float* y, const float* dy, bool relu,
                       const float* mean, const float* invstd, const Shape& s) {
  std::fill(sums, sums + 2 * s.c, 0.0);
  for_each_run(s, [&](int c0, int lanes, int block, std::int64_t at, std::int64_t pixels) {
    double a[kMaxBlock] = {}, q[kMaxBlock] = {};
    for (std::int64_t p = 0; p < pixels; ++p) {
      const std::int64_t i = at + p * block;
      for (int j = 0; j < lanes; ++j) {
        const float g = masked(dy[i + j], y[i + j], relu);
        a[j] += g;
        q[j] += double{g} * ((x[i + j] - mean[c0 + j]) * invstd[c0 + j]);
      }
    }
    for (int j = 0; j < lanes; ++j) {
      sums[c0 + j] += a[j];
      sums[s.c + c0 + j] += q[j];
    }
  });
}

void sync_input_grad(float* dx, const float* x, const float* y, const float* dy, bool relu,
                     const BatchNormInputGrad* grad, const Shape& s) {
  for_each_run(s, [&](int c0, int lanes, int block, std::int64_t at, std::int64_t pixels) {
    for (std::int64_t p = 0; p < pixels; ++p) {
      const std::int64_t i = at + p * block;
      for (int j = 0; j < lanes; ++j)
        dx[i + j] = grad[c0 + j](x[i + j], masked(dy[i + j], y[i + j], relu));
      for (int j = lanes; j < block; ++j) dx[i + j] = 0.f;
    }
  });
}

}  // namespace ft::nn::cpu

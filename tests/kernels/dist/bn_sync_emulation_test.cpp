// SyncBatchNorm's CUDA kernels (kernels/nn/cuda/batch_norm_sync.cuh) without a GPU: compiled as
// host code under tests/cuda_block_emulation.hpp (a block's threads are real threads with
// barriers, so the shared-memory trees run as written; grid-stride loops wrap) and checked against
// the CPU layer's loops (kernels/nn/cpu/batch_norm_sync.cpp) on the same NCHW data: the
// per-channel double sums to 1e-12 relative (a tree against a sequential order), dx, the
// parameter-gradient and running-statistics updates bit for bit (the same functions of the same
// inputs). Catches indexing and arithmetic-order bugs; the device's own arithmetic needs a GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

// clang-format off: the emulation must come before the kernel headers
#include "tests/cuda_block_emulation.hpp"
// clang-format on
#include "kernels/nn/batch_norm_sync.hpp"
#include "kernels/nn/cpu/batch_norm_sync.hpp"
// reductions.cuh (block_tree_sum) comes with static kernels this test does not launch.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "kernels/nn/cuda/batch_norm_sync.cuh"
#pragma GCC diagnostic pop

using namespace ft::nn;
namespace kc = ft::nn::cuda;

namespace {

constexpr int kN = 5, kC = 6, kH = 7, kW = 3;  // hw = 21: no power of two
constexpr std::int64_t kHw = std::int64_t{kH} * kW, kNumel = kN * kC * kHw;

// Per-channel offsets and scales, every 5th value exactly zero (ReLU's boundary in y).
std::vector<float> make(std::uint32_t seed, bool offsets) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<std::size_t>(kNumel));
  for (std::int64_t i = 0; i < kNumel; ++i) {
    const auto c = static_cast<float>((i / kHw) % kC);
    v[i] = i % 5 == 2 ? 0.f : (offsets ? 0.7f * c : 0.f) + (0.5f + 0.1f * c) * normal(gen);
  }
  return v;
}

// bn_channel_sums on `threads` threads per block; b == nullptr: sums and sums of squares of a.
std::vector<double> emulated_sums(const std::vector<float>& a, const float* b, const float* mean,
                                  const float* invstd, unsigned threads) {
  std::vector<double> sums(2 * kC, -1.0);
  emulate_block_launch(kC, 1, threads, [&] {
    kc::bn_channel_sums(sums.data(), a.data(), b, mean, invstd, kC, kHw, kN);
  });
  return sums;
}

void check_close(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    CHECK(std::fabs(a[i] - b[i]) <= 1e-12 * (1.0 + std::fabs(b[i])));
  }
}

}  // namespace

TEST_CASE("SyncBatchNorm's CUDA kernels equal the CPU layer's loops") {
  const Shape shape{kN, kC, kH, kW, Layout::nchw};
  const auto x = make(1, true), y = make(2, false), dy = make(3, false);
  // Forward: the statistics' sums, for two block sizes (the tree's shape must not matter).
  std::vector<double> cpu(2 * kC);
  cpu::channel_sums(cpu.data(), x.data(), shape);
  for (unsigned threads : {32u, 8u})
    check_close(emulated_sums(x, nullptr, nullptr, nullptr, threads), cpu);
  std::vector<float> stats(4 * kC), running_mean(kC, 0.3f), running_var(kC, 1.2f);
  for (int c = 0; c < kC; ++c) {
    const ChannelStats st = channel_stats(double{kN} * kHw, cpu[c], cpu[kC + c]);
    stats[c] = st.mean;
    stats[kC + c] = st.var;
    stats[2 * kC + c] = inv_std(st.var, 1e-5f);
    stats[3 * kC + c] = static_cast<float>(st.unbiased_var);
  }
  std::vector<float> rm = running_mean, rv = running_var;
  emulate_block_launch(
      2, 1, 4, [&] { kc::bn_update_running(rm.data(), rv.data(), stats.data(), kC, 0.1f); });
  for (int c = 0; c < kC; ++c) {
    CHECK(rm[c] == running_update(running_mean[c], stats[c], 0.1f));
    CHECK(rv[c] == running_update(running_var[c], stats[3 * kC + c], 0.1f));
  }
  // Backward: the device gets dy already masked by the fused ReLU (y > 0), the CPU masks itself.
  std::vector<float> masked(dy.size());
  for (std::size_t i = 0; i < dy.size(); ++i) masked[i] = y[i] > 0.f ? dy[i] : 0.f;
  const float* mean = stats.data();
  const float* invstd = stats.data() + 2 * kC;
  std::vector<double> cpu_grad(2 * kC);
  cpu::channel_grad_sums(cpu_grad.data(), x.data(), y.data(), dy.data(), true, mean, invstd, shape);
  const auto gpu_grad = emulated_sums(masked, x.data(), mean, invstd, 32);
  check_close(gpu_grad, cpu_grad);
  std::vector<float> dgamma(kC, 0.25f), dbeta(kC, -0.5f);
  emulate_block_launch(
      2, 1, 4, [&] { kc::bn_add_local_grads(dgamma.data(), dbeta.data(), gpu_grad.data(), kC); });
  for (int c = 0; c < kC; ++c) {
    CHECK(dgamma[c] == 0.25f + static_cast<float>(gpu_grad[kC + c]));
    CHECK(dbeta[c] == -0.5f + static_cast<float>(gpu_grad[c]));
  }
  std::vector<BatchNormInputGrad> coeff(kC);
  for (int c = 0; c < kC; ++c)
    coeff[c] = batch_norm_input_grad(stats[c], stats[kC + c], 1e-5f, 0.5f + 0.25f * c,
                                     2.0 * kN * kHw, 1.5 * cpu_grad[c], 1.5 * cpu_grad[kC + c]);
  std::vector<float> dx_cpu(x.size(), 0.f), dx_gpu(x.size(), -7.f);
  cpu::sync_input_grad(dx_cpu.data(), x.data(), y.data(), dy.data(), true, coeff.data(), shape);
  emulate_block_launch(3, 1, 16, [&] {
    kc::bn_sync_input_grad(dx_gpu.data(), x.data(), masked.data(), coeff.data(), kC, kHw, kNumel);
  });
  CHECK(dx_gpu == dx_cpu);
}

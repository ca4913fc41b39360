// The CUDA layers' kernels (kernels/nn/cuda/kernels.cuh) without a GPU: compiled as host code
// under a small emulation of CUDA's built-ins and launched thread by thread (3 blocks x 64
// threads, so every grid-stride loop wraps), each must equal the CPU layer or the plain loop it
// replaces bit for bit (sum_squares: to 1e-12; max-pool backward: see there). Catches indexing
// and arithmetic-order bugs; the device's own arithmetic (the toolchain, scheduling) needs a GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

// clang-format off: the emulation must come before the kernel headers
#include "tests/cuda_emulation.hpp"
// clang-format on
#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/linear_gemm.hpp"
#include "kernels/nn/module.hpp"
#include "kernels/optim/sgd.hpp"
#include "kernels/random/philox.hpp"
#include "tests/kernels/nn/max_pool_ties.hpp"

using namespace ft::nn;
namespace kc = ft::nn::cuda;

namespace {

constexpr unsigned kBlocks = 3, kThreads = 64;

// Runs f for every (block, thread) of a 1-D grid, one at a time. Kernels that synchronise inside
// a block (sum_squares) must be launched with one thread.
template <class F>
void launch(unsigned blocks, unsigned threads, F f) {
  emulate_launch(blocks, 1, threads, f);
}
template <class F>
void launch(F f) {
  launch(kBlocks, kThreads, f);
}

// Uniform in [lo, hi); every 7th value exactly zero (ReLU's boundary).
std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float lo = -2.f,
                                 float hi = 2.f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i % 7 == 3 ? 0.f : dist(gen);
  return v;
}

// Integers 0..3: windows full of ties.
std::vector<float> tied_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(gen() % 4);
  return v;
}

// Bit-identical, reporting the first difference.
bool same_bits(const std::string& what, const float* got, const float* want, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (std::memcmp(got + i, want + i, sizeof(float)) != 0) {
      MESSAGE(what << "[" << i << "]: kernel " << got[i] << ", CPU " << want[i]);
      return false;
    }
  return true;
}
bool same_bits(const std::string& what, const std::vector<float>& got, const float* want) {
  return same_bits(what, got.data(), want, got.size());
}
bool same_bits(const std::string& what, const std::vector<float>& got,
               const std::vector<float>& want) {
  return got.size() == want.size() && same_bits(what, got.data(), want.data(), got.size());
}

}  // namespace

TEST_CASE("philox_uniform_at equals the sequential Philox stream word for word") {
  struct Key {
    std::uint64_t seed;
    std::uint32_t epoch;
    std::uint64_t sample;
    std::uint32_t op;
  };
  for (const Key k :
       {Key{0, 0, 0, 0}, Key{42, 7, 3, 1}, Key{0x0123456789ABCDEFull, 123456, (1ull << 40) + 17, 9},
        Key{~0ull, 0xFFFFFFFFu, (1ull << 48) - 1, 0xFFFFu}}) {
    ft::rng::Philox gen(k.seed, k.epoch, k.sample, k.op);
    int bad = 0;
    for (std::uint64_t i = 0; i <= 1000; ++i) {
      const float want = gen.uniform(),
                  got = kc::philox_uniform_at(k.seed, k.epoch, k.sample, k.op, i);
      bad += std::memcmp(&want, &got, sizeof(float)) != 0;
    }
    CHECK_MESSAGE(bad == 0, "seed " << k.seed << " sample " << k.sample << " op " << k.op);
  }
}

TEST_CASE("emulated relu and the residual join equal the CPU layers") {
  const Shape s{3, 5, 7, 9};
  const std::int64_t n = s.numel();
  const std::vector<float> x = random_floats(n, 1), b = random_floats(n, 2),
                           dy = random_floats(n, 3), dy2 = random_floats(n, 4);

  auto relu = cpu_layers(false).relu();
  relu->setup(s);
  const float* y_cpu = relu->forward(x.data(), true);
  std::vector<float> y(n), dx(n);
  launch([&] { kc::relu_forward(y.data(), x.data(), n); });
  CHECK(same_bits("relu y", y, y_cpu));
  const float* dx_cpu = relu->backward(dy.data());
  launch([&] { kc::relu_backward(dx.data(), y.data(), dy.data(), n); });
  CHECK(same_bits("relu dx", dx, dx_cpu));

  for (const bool fused_relu : {false, true}) {
    const std::string name = fused_relu ? "add+relu" : "add";
    auto add = cpu_layers(false).residual_add(fused_relu);
    add->setup(s, s);
    const float* sum_cpu = add->forward(x.data(), b.data());
    launch([&] { kc::add_forward(y.data(), x.data(), b.data(), n, fused_relu); });
    CHECK(same_bits(name + " y", y, sum_cpu));
    // Without the ReLU the backward is the identity (the CPU returns dy itself).
    const float* dsum_cpu = add->backward(dy.data());
    if (fused_relu) {
      launch([&] { kc::relu_backward(dx.data(), y.data(), dy.data(), n); });
      CHECK(same_bits(name + " dsum", dx, dsum_cpu));
    } else {
      CHECK(dsum_cpu == dy.data());
    }
    const float* dinput_cpu = add->sum_input_grads(dy.data(), dy2.data());
    launch([&] { kc::add_arrays(dx.data(), dy.data(), dy2.data(), n); });
    CHECK(same_bits(name + " sum_input_grads", dx, dinput_cpu));
  }
}

TEST_CASE("emulated dropout draws the CPU layer's mask and output") {
  const Shape s{4, 3, 10, 11};
  const std::int64_t n = s.numel(), per = s.per_sample();
  const std::vector<float> x = random_floats(n, 5), dy = random_floats(n, 6), ones(n, 1.f);
  for (const float p : {0.3f, 0.5f, 1.0f}) {
    const std::string name = "dropout p=" + std::to_string(p);
    const std::uint64_t seed = 0xFEEDFACE12345678ull, step = 77;
    const int index = 2;
    auto drop = cpu_layers(false).dropout(p, index);
    drop->setup(s);
    drop->set_dropout_key(seed, step);
    const float* y_cpu = drop->forward(x.data(), true);
    std::vector<float> y(n), mask(n), dx(n);
    launch([&] {
      kc::dropout_forward(y.data(), mask.data(), x.data(), per, n, p, seed, step, index);
    });
    CHECK(same_bits(name + " y", y, y_cpu));
    // The CPU mask is private: backward of ones gives it (1 * mask).
    CHECK(same_bits(name + " mask", mask, drop->backward(ones.data())));
    const float* dx_cpu = drop->backward(dy.data());
    launch([&] { kc::mul_arrays(dx.data(), dy.data(), mask.data(), n); });
    CHECK(same_bits(name + " dx", dx, dx_cpu));
  }
}

TEST_CASE("emulated max pool (first maximum, gathered backward) equals the CPU layer") {
  struct Case {
    MaxPoolSpec spec;
    Shape in;
    bool ties;
  };
  for (const Case& c : {Case{{3, 2, 1}, {4, 5, 11, 10}, false},
                        Case{{3, 2, 1}, {4, 5, 11, 10}, true}, Case{{2, 2, 0}, {4, 5, 8, 9}, false},
                        Case{{2, 2, 0}, {4, 5, 8, 9}, true}, Case{{3, 1, 1}, {2, 3, 6, 7}, true}}) {
    const std::string name = "max_pool k" + std::to_string(c.spec.kernel) + " s" +
                             std::to_string(c.spec.stride) + " p" + std::to_string(c.spec.padding) +
                             (c.ties ? " ties" : "");
    auto pool = cpu_layers(false).max_pool(c.spec);
    const Shape out = pool->setup(c.in);
    const kc::PoolGeom g{c.in.n,
                         c.in.c,
                         c.in.h,
                         c.in.w,
                         (c.in.h + 2 * c.spec.padding - c.spec.kernel) / c.spec.stride + 1,
                         (c.in.w + 2 * c.spec.padding - c.spec.kernel) / c.spec.stride + 1,
                         c.spec.kernel,
                         c.spec.stride,
                         c.spec.padding};
    REQUIRE(out.h == g.oh);
    REQUIRE(out.w == g.ow);
    const std::vector<float> x = c.ties ? tied_floats(c.in.numel(), 7)
                                        : random_floats(c.in.numel(), 7),
                             dy = random_floats(out.numel(), 8);
    std::vector<float> y(out.numel()), dx(c.in.numel());
    std::vector<std::int32_t> argmax(out.numel());
    const float* y_cpu = pool->forward(x.data(), true);
    launch([&] { kc::max_pool_forward(y.data(), argmax.data(), x.data(), g); });
    CHECK(same_bits(name + " y", y, y_cpu));
    const float* dx_cpu = pool->backward(dy.data());
    launch([&] { kc::max_pool_backward(dx.data(), dy.data(), argmax.data(), g); });
    // Reference: dy scattered to the argmax in row-major output order (the gather's order, and
    // PyTorch's CUDA kernel's).
    const std::int64_t ohw = std::int64_t{g.oh} * g.ow, ihw = std::int64_t{g.h} * g.w;
    std::vector<float> want(c.in.numel(), 0.f);
    int bad_arg = 0;
    for (std::int64_t o = 0; o < out.numel(); ++o) {
      const std::int64_t i = o / ohw * ihw + argmax[o];
      bad_arg += !(argmax[o] >= 0 && argmax[o] < ihw && x[i] == y[o]);
      want[i] += dy[o];
    }
    CHECK_MESSAGE(bad_arg == 0, name << ": argmax not at the maximum");
    CHECK(argmax == ft::nn::testing::first_max_argmax(x.data(), c.in, out, c.spec));
    CHECK(same_bits(name + " dx vs row-major scatter", dx, want));
    // Against oneDNN: bit-identical where one or two outputs chose an input, within rounding of
    // the sum where more did (max_pool_ties.hpp says why).
    int reordered = 0;
    const int bad = ft::nn::testing::max_pool_dx_mismatches(
        name, dx.data(), dx_cpu, ft::nn::testing::pool_hits(argmax, dy.data(), c.in, out),
        &reordered);
    CHECK_MESSAGE(bad == 0, name << ": dx differs from the CPU layer");
    MESSAGE(name << ": " << reordered
                 << " inputs with 3+ outputs differ from oneDNN in the last bits");
  }
}

TEST_CASE("emulated global average pool equals the CPU layer") {
  // 240 planes: more than the 192 threads, so the per-plane loop wraps too. The CPU layer on
  // NCHW sums each plane in order in float, as the kernel does, so the results are identical.
  const Shape s{4, 60, 5, 7};
  const std::int64_t nc = std::int64_t{s.n} * s.c;
  const int hw = s.h * s.w;
  const std::vector<float> x = random_floats(s.numel(), 9), dy = random_floats(nc, 10);
  auto pool = cpu_layers(false).global_avg_pool();
  pool->setup(s);
  std::vector<float> y(nc), dx(s.numel());
  const float* y_cpu = pool->forward(x.data(), true);
  launch([&] { kc::global_avg_pool_forward(y.data(), x.data(), nc, hw); });
  CHECK(same_bits("avg_pool y", y, y_cpu));
  const float* dx_cpu = pool->backward(dy.data());
  launch([&] { kc::global_avg_pool_backward(dx.data(), dy.data(), nc, hw); });
  CHECK(same_bits("avg_pool dx", dx, dx_cpu));
}

TEST_CASE("emulated bias adds and bias-gradient sums equal plain loops") {
  for (const int cols : {7, 250}) {
    const std::int64_t rows = 30;
    const std::vector<float> m = random_floats(rows * cols, 11), bias = random_floats(cols, 12);
    std::vector<float> y = m, want = m;
    for (std::int64_t r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) want[r * cols + c] += bias[c];
    launch([&] { kc::add_bias_rows(y.data(), bias.data(), rows, cols); });
    CHECK(same_bits("add_bias_rows cols=" + std::to_string(cols), y, want));

    std::vector<float> sums = bias, want_sums = bias;  // accumulates onto existing gradients
    for (int c = 0; c < cols; ++c) {
      float s = 0.f;
      for (std::int64_t r = 0; r < rows; ++r) s += m[r * cols + c];
      want_sums[c] += s;
    }
    launch([&] { kc::column_sums_accumulate(sums.data(), m.data(), rows, cols); });
    CHECK(same_bits("column_sums cols=" + std::to_string(cols), sums, want_sums));
  }
  for (const int channels : {5, 200}) {
    const int n = 3, hw = 6;
    const std::int64_t planes = std::int64_t{n} * channels;
    const std::vector<float> m = random_floats(planes * hw, 13), bias = random_floats(channels, 14);
    std::vector<float> y = m, want = m;
    for (std::int64_t p = 0; p < planes; ++p)
      for (int k = 0; k < hw; ++k) want[p * hw + k] += bias[p % channels];
    launch([&] { kc::add_bias_channels(y.data(), bias.data(), planes, channels, hw); });
    CHECK(same_bits("add_bias_channels c=" + std::to_string(channels), y, want));

    std::vector<float> sums = bias, want_sums = bias;
    for (int c = 0; c < channels; ++c) {
      float s = 0.f;
      for (int b = 0; b < n; ++b)
        for (int k = 0; k < hw; ++k) s += m[(std::int64_t{b} * channels + c) * hw + k];
      want_sums[c] += s;
    }
    // One thread per block: the kernel's tree reduction needs __syncthreads (see sum_squares).
    launch(kBlocks, 1,
           [&] { kc::channel_sums_accumulate(sums.data(), m.data(), n, channels, hw); });
    CHECK(same_bits("channel_sums c=" + std::to_string(channels), sums, want_sums));
  }
}

TEST_CASE("emulated sum_squares and scale_array equal plain loops") {
  const std::vector<float> a = random_floats(1000, 15), b = random_floats(333, 16, -50.f, 50.f);
  double want = 0.0;
  for (float v : a) want += static_cast<double>(v) * v;
  for (float v : b) want += static_cast<double>(v) * v;
  // One thread: the emulation runs threads in turn, so a block's __syncthreads cannot hold.
  double got = 0.0;
  launch(1, 1, [&] { kc::sum_squares(&got, a.data(), static_cast<std::int64_t>(a.size())); });
  launch(1, 1, [&] { kc::sum_squares(&got, b.data(), static_cast<std::int64_t>(b.size())); });
  CHECK(std::abs(got - want) <= 1e-12 * want);

  const float coef = 0.37f;
  std::vector<float> g = a, want_g = a;
  for (float& v : want_g) v *= coef;
  launch([&] { kc::scale_array(g.data(), coef, static_cast<std::int64_t>(g.size())); });
  CHECK(same_bits("scale_array", g, want_g));
}

TEST_CASE("emulated sgd_update_kernel equals sgd_update for every flag combination") {
  struct Case {
    const char* name;
    float momentum, dampening;
    bool nesterov;
  };
  constexpr std::int64_t n = 1000;
  const float lr = 0.05f, weight_decay = 5e-4f;
  for (const Case& c : {Case{"no momentum", 0.f, 0.f, false}, Case{"momentum", 0.9f, 0.f, false},
                        Case{"nesterov", 0.9f, 0.f, true}, Case{"dampening", 0.9f, 0.1f, false}}) {
    std::vector<float> value = random_floats(n, 17), buf(n, 0.f);
    std::vector<float> value_emu = value, buf_emu = buf;
    // Step 1 creates the buffer (first), steps 2 and 3 use it.
    for (int step = 1; step <= 3; ++step) {
      const std::vector<float> grad = random_floats(n, 100 + step);
      const bool first = c.momentum != 0.f && step == 1;
      ft::optim::sgd_update(value.data(), grad.data(), buf.data(), n, lr, c.momentum, c.dampening,
                            weight_decay, c.nesterov, first);
      launch([&] {
        kc::sgd_update_kernel(value_emu.data(), buf_emu.data(), grad.data(), n, lr, c.momentum,
                              c.dampening, weight_decay, c.nesterov, first);
      });
      const std::string name = std::string(c.name) + " step " + std::to_string(step);
      CHECK(same_bits(name + " value", value_emu, value));
      CHECK(same_bits(name + " buffer", buf_emu, buf));
    }
  }
}

namespace {

// Column-major C = op(A) op(B) + beta C, as cublasSgemm computes it (alpha = 1), in double.
void reference_sgemm(const kc::Gemm& g, const float* a, const float* b, float* c) {
  for (int j = 0; j < g.n; ++j)
    for (int i = 0; i < g.m; ++i) {
      double acc = 0;
      for (int p = 0; p < g.k; ++p) {
        const float av =
            g.trans_a ? a[p + std::int64_t{i} * g.lda] : a[i + std::int64_t{p} * g.lda];
        const float bv =
            g.trans_b ? b[j + std::int64_t{p} * g.ldb] : b[p + std::int64_t{j} * g.ldb];
        acc += double(av) * bv;
      }
      float& out = c[i + std::int64_t{j} * g.ldc];
      out = static_cast<float>(acc + double(g.beta) * out);
    }
}

}  // namespace

TEST_CASE("the CUDA Linear's GEMM arguments compute the CPU Linear (reference column-major GEMM)") {
  const int n = 6, in = 13, out = 5;
  auto cpu = cpu_layers(false).linear(LinearSpec{in, out, false});
  std::vector<Parameter*> params;
  std::vector<Buffer*> buffers;
  cpu->collect("", params, buffers);
  REQUIRE(params.size() == 1);
  params[0]->value = random_floats(params[0]->value.size(), 31);
  cpu->setup(Shape{n, in, 1, 1});
  const std::vector<float> x = random_floats(std::size_t(n) * in, 32),
                           dy = random_floats(std::size_t(n) * out, 33);
  const float* y_cpu = cpu->forward(x.data(), true);
  const float* dx_cpu = cpu->backward(dy.data());
  const std::vector<float>& w = params[0]->value;

  std::vector<float> y(std::size_t(n) * out, 7.f), dw(w.size(), 0.f), dx(x.size(), 7.f);
  reference_sgemm(kc::linear_forward_gemm(n, in, out), w.data(), x.data(), y.data());
  reference_sgemm(kc::linear_weight_grad_gemm(n, in, out), x.data(), dy.data(), dw.data());
  reference_sgemm(kc::linear_input_grad_gemm(n, in, out), w.data(), dy.data(), dx.data());
  // oneDNN sums in float in its own order; the reference in double: a few float ulps apart.
  const auto close = [](const float* got, const float* want, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i)
      if (std::abs(got[i] - want[i]) > 1e-5f * (1.f + std::abs(want[i]))) return false;
    return true;
  };
  CHECK(close(y.data(), y_cpu, y.size()));
  CHECK(close(dw.data(), params[0]->grad.data(), dw.size()));
  CHECK(close(dx.data(), dx_cpu, dx.size()));
  // beta = 1 accumulates, as Parameter::grad must.
  reference_sgemm(kc::linear_weight_grad_gemm(n, in, out), x.data(), dy.data(), dw.data());
  for (float& g : params[0]->grad) g *= 2.f;
  CHECK(close(dw.data(), params[0]->grad.data(), dw.size()));
}

// The GPU's bf16 conversions (kernels/nn/cuda/bf16_math.hpp, bf16_kernels.cuh) without a GPU,
// against oneDNN's reorders, which are how the CPU path (cpu_layers(_, Precision::bf16)) rounds
// its convolution and matmul inputs: the rounding bit for bit over every class of float (random
// bit patterns, ties, the largest finite, subnormals, infinities, NaNs), and the NCHW <-> NHWC
// and KCRS <-> KRSC relayouts, emulated thread by thread (tests/cuda_emulation.hpp), equal to the
// same reorders with layout tags. The device's own arithmetic needs a GPU (test_nn_gpu).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

// clang-format off: the emulation must come before the kernel headers
#include "tests/cuda_emulation.hpp"
// clang-format on
#include "kernels/nn/cpu/dnnl_context.hpp"
#include "kernels/nn/cuda/bf16_kernels.cuh"

namespace kc = ft::nn::cuda;
namespace cpu = ft::nn::cpu;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

namespace {

float from_bits(std::uint32_t u) { return ft::float_of_bits(u); }

// oneDNN's reorder of `src` (dims, src_tag, src_type) into dst_tag / dst_type, as the CPU
// layers run it (cpu::make_reorder, cpu::execute).
template <class D, class S>
std::vector<D> onednn_reorder(const std::vector<S>& src, const dnnl::memory::dims& dims,
                              tag src_tag, dt src_type, tag dst_tag, dt dst_type) {
  std::vector<D> dst(src.size());
  dnnl::memory s(cpu::plain_md(dims, src_tag, src_type), cpu::engine(), const_cast<S*>(src.data()));
  dnnl::memory d(cpu::plain_md(dims, dst_tag, dst_type), cpu::engine(), dst.data());
  cpu::execute(cpu::make_reorder(s, d), {{DNNL_ARG_FROM, s}, {DNNL_ARG_TO, d}});
  cpu::stream().wait();
  return dst;
}

// Floats of every class: random bit patterns (NaNs, infinities and subnormals among them), exact
// ties and their neighbours at every exponent, then the edge values.
std::vector<float> floats_of_every_class(std::size_t random_count, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<float> v;
  for (std::size_t i = 0; i < random_count; ++i) v.push_back(from_bits(gen()));
  for (int i = 0; i < 4096; ++i) {
    const std::uint32_t hi = gen() & 0xFFFF0000u;
    for (const std::uint32_t lo : {0x8000u, 0x7FFFu, 0x8001u, 0x0000u, 0xFFFFu})
      v.push_back(from_bits(hi | lo));
  }
  for (const std::uint32_t u :
       {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u,   // zeros, infinities
        0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F7F8000u, 0x7F7F7FFFu,   // the largest finite, ties below it
        0x00800000u, 0x80800000u, 0x007FFFFFu, 0x807FFFFFu,   // smallest normal, largest subnormal
        0x00000001u, 0x80000001u, 0x00008000u, 0x00018000u,   // subnormals, ties among them
        0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFF800001u,   // quiet NaNs, NaNs in the low bits
        0x7FA00000u, 0x7FBFFFFFu, 0x7FFFFFFFu, 0xFFFF8000u,   // signalling, all-ones payloads
        0x3F808000u, 0x3F818000u, 0x3F80FFFFu, 0xBF808001u})  // ties to even at 1
    v.push_back(from_bits(u));
  return v;
}

// The first few differences of two bf16 bit arrays, counted.
int bf16_mismatches(const std::string& what, const std::vector<std::uint16_t>& got,
                    const std::vector<std::uint16_t>& want, const std::vector<float>& in) {
  REQUIRE(got.size() == want.size());
  int bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i] && bad++ < 5) {
      char line[96];
      std::snprintf(line, sizeof line, "[%zu]: float bits 0x%08x -> 0x%04x, oneDNN 0x%04x", i,
                    static_cast<unsigned>(ft::float_bits(in[i])), unsigned{got[i]},
                    unsigned{want[i]});
      MESSAGE(what << line);
    }
  return bad;
}

}  // namespace

TEST_CASE("bf16_from_float rounds every class of float as oneDNN's reorder does, bit for bit") {
  const std::vector<float> x = floats_of_every_class(1 << 18, 1);
  const auto want = onednn_reorder<std::uint16_t>(x, {static_cast<dnnl::memory::dim>(x.size())},
                                                  tag::a, dt::f32, tag::a, dt::bf16);
  std::vector<std::uint16_t> got(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) got[i] = kc::bf16_from_float(x[i]);
  CHECK(bf16_mismatches("bf16_from_float", got, want, x) == 0);

  // The rules themselves, so a oneDNN that changed them would be noticed here.
  CHECK(kc::bf16_from_float(from_bits(0x3F808000u)) == 0x3F80);  // tie: to the even 0x3F80
  CHECK(kc::bf16_from_float(from_bits(0x3F818000u)) == 0x3F82);  // tie: to the even 0x3F82
  CHECK(kc::bf16_from_float(from_bits(0x7F7FFFFFu)) == 0x7F80);  // past the largest: infinity
  CHECK(kc::bf16_from_float(from_bits(0x807FFFFFu)) == 0x8000);  // subnormal: signed zero
  CHECK(kc::bf16_from_float(from_bits(0x7F800001u)) == 0x7FC0);  // NaN stays NaN, made quiet
  CHECK(kc::bf16_from_float(from_bits(0xFF800000u)) == 0xFF80);

  // Widening back is exact: every bf16 bit pattern returns to the float it stands for.
  for (std::uint32_t b = 0; b <= 0xFFFFu; ++b) {
    const float f = ft::bf16_to_f32(static_cast<std::uint16_t>(b));
    if (ft::float_bits(f) != b << 16) FAIL("bf16_to_f32 of bf16 bits " << b);
  }
}

TEST_CASE("emulated round_to_bf16 and widen_bf16 equal oneDNN's reorders") {
  const std::vector<float> x = floats_of_every_class(5000, 2);
  const auto n = static_cast<std::int64_t>(x.size());
  std::vector<std::uint16_t> got(x.size());
  emulate_launch(3, 1, 64, [&] { kc::round_to_bf16(got.data(), x.data(), n); });
  const auto want = onednn_reorder<std::uint16_t>(x, {n}, tag::a, dt::f32, tag::a, dt::bf16);
  CHECK(bf16_mismatches("round_to_bf16", got, want, x) == 0);

  // Back to f32 (cuDNN's NCHW results): assigned, and added to a gradient.
  const auto back = onednn_reorder<float>(want, {n}, tag::a, dt::bf16, tag::a, dt::f32);
  std::vector<float> wide(x.size(), -7.f), acc(x.size(), 0.25f);
  emulate_launch(3, 1, 64, [&] { kc::widen_bf16(wide.data(), want.data(), n, {false}); });
  emulate_launch(2, 1, 32, [&] { kc::widen_bf16(acc.data(), want.data(), n, {true}); });
  CHECK(std::memcmp(wide.data(), back.data(), wide.size() * sizeof(float)) == 0);
  int bad = 0;
  for (std::size_t i = 0; i < acc.size(); ++i) {
    const float sum = 0.25f + back[i];
    bad += std::memcmp(&acc[i], &sum, sizeof(float)) != 0;
  }
  CHECK(bad == 0);
}

namespace {

// A (d0, d1, d2, d3) tensor of every class of float, most of them ordinary values.
std::vector<float> tensor_values(std::int64_t count, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-3.f, 3.f);
  const std::vector<float> special = floats_of_every_class(0, seed);
  std::vector<float> v(static_cast<std::size_t>(count));
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = i % 13 == 5 ? special[gen() % special.size()] : dist(gen);
  return v;
}

// relayout_planes emulated with `blocks` blocks of one thread (the tile loops cover every
// element; with fewer blocks than tiles the grid-stride loop wraps).
template <bool kToNhwc, class Src, class Dst, class Convert>
void relayout(std::vector<Dst>& dst, const std::vector<Src>& src, std::int64_t batches,
              int channels, int hw, Convert convert, unsigned blocks = 3) {
  emulate_launch(blocks, 1, 1, [&] {
    kc::relayout_planes<kToNhwc>(dst.data(), src.data(), batches, channels, hw, convert);
  });
}

}  // namespace

TEST_CASE("emulated NCHW <-> NHWC and KCRS <-> KRSC relayouts equal oneDNN's reorders") {
  struct Dims {
    int n, c, h, w;
  };
  // Tile edges inside and across planes; an activation of the stem (C = 3); a grouped filter
  // (K, C/groups, R, S) = (64, 4, 3, 3); a 1x1 filter; one tile exactly; more tiles than blocks.
  for (const Dims d : {Dims{3, 37, 5, 7}, Dims{2, 3, 17, 19}, Dims{64, 4, 3, 3}, Dims{40, 70, 1, 1},
                       Dims{1, 32, 4, 8}, Dims{2, 65, 9, 9}}) {
    CAPTURE(d.n);
    CAPTURE(d.c);
    CAPTURE(d.h);
    const dnnl::memory::dims dims{d.n, d.c, d.h, d.w};
    const std::int64_t count = std::int64_t{d.n} * d.c * d.h * d.w;
    const int hw = d.h * d.w;
    const auto x = tensor_values(count, static_cast<std::uint32_t>(count));

    // f32 NCHW -> bf16 NHWC (activations; filters as KCRS -> KRSC, the same map).
    std::vector<std::uint16_t> nhwc(x.size(), 0xDEAD);
    relayout<true>(nhwc, x, d.n, d.c, hw, kc::RoundToBf16{});
    const auto want =
        onednn_reorder<std::uint16_t>(x, dims, tag::nchw, dt::f32, tag::nhwc, dt::bf16);
    CHECK(bf16_mismatches("NCHW f32 -> NHWC bf16", nhwc, want, x) == 0);

    // bf16 NHWC -> f32 NCHW, assigned and accumulated (dL/dweight adds into the f32 gradient).
    const auto back = onednn_reorder<float>(want, dims, tag::nhwc, dt::bf16, tag::nchw, dt::f32);
    std::vector<float> got(x.size(), -7.f);
    relayout<false>(got, want, d.n, d.c, hw, kc::WidenBf16{false}, 5);
    CHECK(std::memcmp(got.data(), back.data(), got.size() * sizeof(float)) == 0);
    const auto base = tensor_values(count, 99);
    std::vector<float> acc = base;
    relayout<false>(acc, want, d.n, d.c, hw, kc::WidenBf16{true}, 2);
    int bad = 0;
    for (std::size_t i = 0; i < acc.size(); ++i) {
      const float sum = base[i] + back[i];
      bad += std::memcmp(&acc[i], &sum, sizeof(float)) != 0;
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("the NCHW and NHWC offsets address every element once") {
  const int n = 3, c = 5, hw = 7;
  std::vector<int> seen_nchw(n * c * hw, 0), seen_nhwc(n * c * hw, 0);
  for (int b = 0; b < n; ++b)
    for (int ch = 0; ch < c; ++ch)
      for (int p = 0; p < hw; ++p) {
        ++seen_nchw[static_cast<std::size_t>(kc::nchw_offset(b, ch, p, c, hw))];
        ++seen_nhwc[static_cast<std::size_t>(kc::nhwc_offset(b, ch, p, c, hw))];
      }
  for (std::size_t i = 0; i < seen_nchw.size(); ++i) {
    CHECK(seen_nchw[i] == 1);
    CHECK(seen_nhwc[i] == 1);
  }
  CHECK(kc::nhwc_offset(1, 2, 3, c, hw) == (1 * hw + 3) * c + 2);
  CHECK(kc::nchw_offset(1, 2, 3, c, hw) == (1 * c + 2) * hw + 3);
}

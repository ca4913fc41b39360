// The run-time-dispatched CPU loops (cpu_isa.hpp: SSE4.1, AVX2, AVX-512) at every level this CPU
// has, forced in turn: each level's affine warp equals affine_pixel (the CUDA kernels' per-pixel
// definition) at every pixel, and each level's normalize and whole chains equal the SSE4.1
// baseline's bytes. Widths around the 8- and 16-pixel vector blocks, 1, 3 and 4 channels, fills,
// many seeds. On a CPU without AVX2 only the baseline runs (the level is clamped, checked too).
#include "kernels/augment/cpu_isa.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "kernels/augment/affine.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/normalize.hpp"
#include "kernels/augment/pixel.hpp"
#include "kernels/random/philox.hpp"
#include "tests/kernels/augment/affine_reference.hpp"
#include "tests/kernels/augment/host_batch.hpp"

using namespace ft::aug;

namespace {

std::vector<std::uint8_t> noise_image(Dims d, std::uint32_t seed) {
  std::vector<std::uint8_t> v(d.numel());
  ft::rng::Philox r(seed, 7, 0, 0);
  for (std::size_t i = 0; i < v.size(); ++i)  // ramps, noise, and 0 / 255 runs
    v[i] = static_cast<std::uint8_t>(i % 11 == 0 ? 255 * (i % 2) : (i * 5 + r.below(60)) % 256);
  return v;
}

const Dims kSizes[] = {{1, 1, 3},   {3, 7, 3},   {5, 8, 3},   {9, 9, 3},   {7, 15, 3},
                       {11, 16, 1}, {13, 17, 3}, {6, 23, 4},  {31, 24, 3}, {64, 64, 3},
                       {40, 33, 1}, {20, 65, 3}, {17, 31, 4}, {2, 8, 1}};

// Restores the best level however a test case ends.
struct IsaGuard {
  ~IsaGuard() { set_cpu_isa(best_cpu_isa()); }
};

std::vector<CpuIsa> levels() {
  std::vector<CpuIsa> v;
  for (int l = 0; l <= static_cast<int>(best_cpu_isa()); ++l) v.push_back(static_cast<CpuIsa>(l));
  return v;
}

}  // namespace

TEST_CASE("set_cpu_isa clamps to what the CPU has") {
  IsaGuard guard;
  CHECK(set_cpu_isa(CpuIsa::sse41) == CpuIsa::sse41);
  CHECK(cpu_isa() == CpuIsa::sse41);
  const CpuIsa avx2 = best_cpu_isa() >= CpuIsa::avx2 ? CpuIsa::avx2 : CpuIsa::sse41;
  CHECK(set_cpu_isa(CpuIsa::avx2) == avx2);
  CHECK(cpu_isa() == avx2);
  CHECK(set_cpu_isa(CpuIsa::avx512) == best_cpu_isa());
  CHECK(cpu_isa() == best_cpu_isa());
}

TEST_CASE("the affine warp equals affine_pixel at every level") {
  IsaGuard guard;
  int cases = 0;
  for (const CpuIsa isa : levels()) {
    set_cpu_isa(isa);
    for (const Dims d : kSizes)
      for (std::uint32_t seed = 0; seed < 12; ++seed) {
        ft::rng::Philox r(seed, 3, d.h, d.w);
        // Small rotations as the benchmark's, then anything: +-180 deg, shear, scale, translation.
        const bool small = seed < 4;
        float m[6];
        inverse_affine_matrix(
            m, 0.0, 0.0, r.uniform(small ? -10.0f : -180.0f, small ? 10.0f : 180.0f),
            small ? 0.0f : r.uniform(-1.5f, 1.5f) * d.w,
            small ? 0.0f : r.uniform(-1.5f, 1.5f) * d.h, small ? 1.0f : r.uniform(0.3f, 2.0f),
            small ? 0.0f : r.uniform(-40.0f, 40.0f), 0.0);
        const std::vector<std::uint8_t> in = noise_image(d, seed);
        // A fill of zeros (rotate's default) takes a shortcut in the AVX2 loop.
        const float fills[2][4] = {{r.uniform(0.0f, 255.0f), 0.5f, 254.5f, 255.0f}, {0, 0, 0, 0}};
        for (const Interp interp : {Interp::nearest, Interp::bilinear})
          for (const int has_fill : {0, 1, 2}) {
            const float* fill = fills[has_fill == 2];
            std::vector<std::uint8_t> got(d.numel());
            affine_cpu(got.data(), in.data(), d, m, interp, has_fill > 0, fill, d.c);
            const auto want = testing::affine_reference(in, d, m, interp, has_fill > 0, fill, d.c);
            CAPTURE(static_cast<int>(isa));
            CAPTURE(d.h);
            CAPTURE(d.w);
            CAPTURE(d.c);
            CAPTURE(seed);
            REQUIRE(got == want);
            ++cases;
          }
      }
  }
  CHECK(cases == static_cast<int>(levels().size()) * 14 * 12 * 6);
}

TEST_CASE("normalize (f32 and bf16, mirrored or not) gives the same bytes at every level") {
  IsaGuard guard;
  for (const Dims d : kSizes)
    for (const bool flip : {false, true})
      for (const int n_stats : {1, d.c}) {
        const std::vector<std::uint8_t> in = noise_image(d, static_cast<std::uint32_t>(d.w));
        const float mean[4] = {0.485f, 0.456f, 0.406f, 0.5f},
                    stdev[4] = {0.229f, 0.224f, 0.225f, 0.3f};
        std::vector<std::vector<float>> f32;
        std::vector<std::vector<std::uint16_t>> bf16;
        for (const CpuIsa isa : levels()) {
          set_cpu_isa(isa);
          f32.emplace_back(d.numel());
          bf16.emplace_back(d.numel());
          normalize_cpu(f32.back().data(), in.data(), d, mean, stdev, n_stats, flip);
          normalize_cpu(bf16.back().data(), in.data(), d, mean, stdev, n_stats, flip);
        }
        // The baseline against the definition, element by element.
        const std::size_t plane = static_cast<std::size_t>(d.h) * d.w;
        for (int y = 0; y < d.h; ++y)
          for (int x = 0; x < d.w; ++x)
            for (int ch = 0; ch < d.c; ++ch) {
              const std::uint8_t v = in[hwc_offset(d, y, flip ? d.w - 1 - x : x) + ch];
              const float want =
                  normalize_value(v, mean[n_stats == 1 ? 0 : ch], stdev[n_stats == 1 ? 0 : ch]);
              REQUIRE(std::memcmp(&f32[0][ch * plane + y * d.w + x], &want, 4) == 0);
            }
        for (std::size_t l = 1; l < f32.size(); ++l) {
          CAPTURE(l);
          CAPTURE(d.w);
          CAPTURE(flip);
          REQUIRE(std::memcmp(f32[l].data(), f32[0].data(), d.numel() * 4) == 0);
          REQUIRE(bf16[l] == bf16[0]);
        }
      }
}

TEST_CASE("whole chains give the same bytes at every level") {
  IsaGuard guard;
  const AugmentOp rot{.kind = OpKind::rotate, .degrees = 10.0f};
  const AugmentOp rot_fill{
      .kind = OpKind::rotate, .degrees = 45.0f, .fill = {3, 250, 128, 9}, .n_fill = 3};
  const AugmentOp flip{.kind = OpKind::hflip, .p = 0.5f};
  const std::vector<std::vector<AugmentOp>> chains = {{rot, flip, testing::normalize_op(3)},
                                                      {flip, rot_fill, testing::normalize_op(3)},
                                                      {rot, flip},
                                                      testing::seed_chain(40, 36)};
  for (const auto& ops : chains)
    for (const Dims d : {Dims{64, 64, 3}, Dims{29, 37, 3}, Dims{8, 8, 3}})
      for (std::uint64_t sample = 0; sample < 16; ++sample) {
        const std::vector<std::uint8_t> in = noise_image(d, static_cast<std::uint32_t>(sample));
        const Plan plan = plan_output(ops, d);
        const std::size_t bytes = plan.dims.numel() * (plan.f32 ? 4 : 1);
        std::vector<std::vector<std::uint8_t>> outs;
        for (const CpuIsa isa : levels()) {
          set_cpu_isa(isa);
          std::vector<std::uint8_t> u8(plan.f32 ? 0 : plan.dims.numel());
          std::vector<float> f(plan.f32 ? plan.dims.numel() : 0);
          Scratch s;
          apply_ops_cpu(ops, in.data(), d, u8.data(), f.data(), 5, 2, sample, s);
          outs.emplace_back(bytes);
          std::memcpy(outs.back().data(), plan.f32 ? static_cast<const void*>(f.data()) : u8.data(),
                      bytes);
        }
        for (std::size_t l = 1; l < outs.size(); ++l) {
          CAPTURE(sample);
          CAPTURE(d.w);
          REQUIRE(outs[l] == outs[0]);
        }
      }
}

// bench_augment: CPU images/s of each augment op and of the seed's training chain (resize 64->224,
// random_resized_crop 224, hflip, trivial_augment_wide, normalize, random_erasing) over a batch
// of 64x64 RGB images, parallel across samples with TBB as the augment stage runs them.
// Usage: bench_augment [threads=2] [seconds per case=2] [only cases containing this text].
// tools/bench_augment.sh runs it beside torchvision's DataLoader.
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/augment/cpu_isa.hpp"
#include "kernels/augment/ops.hpp"
#include "tests/kernels/augment/host_batch.hpp"

using namespace ft::aug;

namespace {

struct Images {
  Dims dims;
  std::vector<std::uint8_t> pixels;  // n images back to back
  std::size_t n = 0;
};

Images make_images(std::size_t n, Dims d) {
  Images im{d, std::vector<std::uint8_t>(n * d.numel()), n};
  std::uint32_t x = 12345;
  for (auto& p : im.pixels) {  // smooth-ish content with noise, like natural images
    x = x * 1664525u + 1013904223u;
    p = static_cast<std::uint8_t>((&p - im.pixels.data()) % 97 + (x >> 28));
  }
  return im;
}

// Runs `ops` over all images repeatedly for about `seconds`; returns images/s.
double measure(tbb::task_arena& arena, const std::vector<AugmentOp>& ops, const Images& in,
               double seconds) {
  const Plan plan = plan_output(ops, in.dims);
  const std::size_t out_n = plan.dims.numel();
  std::vector<std::uint8_t> out_u8(plan.f32 ? 0 : in.n * out_n);
  std::vector<float> out_f(plan.f32 && !plan.bf16 ? in.n * out_n : 0);
  std::vector<std::uint16_t> out_h(plan.bf16 ? in.n * out_n : 0);
  tbb::enumerable_thread_specific<Scratch> scratch;
  std::size_t done = 0;
  std::uint32_t epoch = 0;
  const auto pass = [&] {
    ++epoch;
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, in.n),
                        [&](const tbb::blocked_range<std::size_t>& r) {
                          Scratch& s = scratch.local();
                          for (std::size_t i = r.begin(); i != r.end(); ++i) {
                            ChainOut o;
                            if (!plan.f32)
                              o.u8 = out_u8.data() + i * out_n;
                            else if (plan.bf16)
                              o.bf16 = out_h.data() + i * out_n;
                            else
                              o.f32 = out_f.data() + i * out_n;
                            apply_ops_cpu(ops, in.pixels.data() + i * in.dims.numel(), in.dims, o,
                                          1, epoch, i, s);
                          }
                        });
    });
  };
  pass();  // warm-up: scratch growth, page faults
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    pass();
    done += in.n;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return static_cast<double>(done) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 2.0;
  tbb::task_arena arena(threads);
  const Images small = make_images(256, {64, 64, 3});
  const Images big = make_images(256, {224, 224, 3});
  const Images fmnist = make_images(256, {28, 28, 1});
  using testing::normalize_bf16_op;
  using testing::normalize_op;
  const AugmentOp fmnist_norm = normalize_op(1);
  // The seed's chain: resize, random_resized_crop, hflip, trivial_augment_wide, normalize, erasing.
  const std::vector<AugmentOp> chain = testing::seed_chain(224, 224);
  const AugmentOp &resize = chain[0], &rrc = chain[1], &flip = chain[2], &ta = chain[3],
                  &erase = chain[5];
  const AugmentOp rot{.kind = OpKind::rotate, .degrees = 10.0f};
  const AugmentOp crop{.kind = OpKind::random_crop,
                       .size_h = 224,
                       .size_w = 224,
                       .pad_l = 4,
                       .pad_t = 4,
                       .pad_r = 4,
                       .pad_b = 4};
  const AugmentOp center{.kind = OpKind::center_crop, .size_h = 200, .size_w = 200};
  struct Case {
    std::string name;
    std::vector<AugmentOp> ops;
    const Images* in;
  };
  const std::vector<Case> cases = {
      {"resize 64->224 (bilinear)", {resize}, &small},
      {"random_resized_crop 224 (from 224)", {rrc}, &big},
      {"hflip p=0.5 (224)", {flip}, &big},
      {"trivial_augment_wide (224)", {ta}, &big},
      {"normalize (224, u8 HWC -> f32 CHW)", {normalize_op(3)}, &big},
      {"normalize (224, u8 HWC -> bf16 CHW)", {normalize_bf16_op(3)}, &big},
      {"normalize + random_erasing random (224)", {normalize_op(3), erase}, &big},
      {"rotate +-10 bilinear (224)", {rot}, &big},
      {"random_crop 224 pad 4 (224)", {crop}, &big},
      {"center_crop 200 (224)", {center}, &big},
      {"seed chain (64 -> 224, 6 ops)", chain, &small},
      {"seed chain, bf16 output", testing::seed_chain(224, 224, true), &small},
      {"fmnist 28x28: rotate 10, hflip, normalize", {rot, flip, fmnist_norm}, &fmnist},
      {"64x64 RGB: rotate 10, hflip, normalize", {rot, flip, normalize_op(3)}, &small},
  };
  const int levels = static_cast<int>(best_cpu_isa()) + 1;
  const char* names[] = {"SSE4.1", "AVX2", "AVX-512"};
  std::printf(
      "bench_augment: %d threads, %zu images per pass, >= %.1f s per case; images/s with "
      "the loops' forms",
      threads, small.n, seconds);
  for (int l = 0; l < levels; ++l) std::printf("%s%s", l ? " / " : " ", names[l]);
  std::printf(" (and each over SSE4.1)\n");
  const std::string only = argc > 3 ? argv[3] : "";
  for (const Case& c : cases) {
    if (c.name.find(only) == std::string::npos) continue;
    // The levels alternate, three rounds, best of each: a busy machine's noise hits all alike.
    double best[3] = {0, 0, 0};
    for (int round = 0; round < 3; ++round)
      for (int l = 0; l < levels; ++l) {
        set_cpu_isa(static_cast<CpuIsa>(l));
        best[l] = std::max(best[l], measure(arena, c.ops, *c.in, seconds / 3));
      }
    set_cpu_isa(best_cpu_isa());
    std::printf("%-44s %10.1f", c.name.c_str(), best[0]);
    for (int l = 1; l < levels; ++l) std::printf(" %10.1f (x%.2f)", best[l], best[l] / best[0]);
    std::printf("\n");
  }
  return 0;
}

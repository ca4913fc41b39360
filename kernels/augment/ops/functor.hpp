// What an op's functor header, kernels/augment/ops/<name>.hpp, defines: a specialisation of
// OpFunctor<OpKind::name> holding the op's per-thread code (FT_HD, so the CPU loops, the CUDA
// kernels and their host emulation compile the same source), and the per-sample data it reads
// (Task, Step). cuda_kernels.cuh turns each specialisation into kernels and launches them by
// FT_AUGMENT_OPS; apply_pixels_cpu runs a pixel functor as an op's CPU loop. Plain C++ with no
// CUDA headers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/augment/geometry.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/pixel.hpp"
#include "kernels/augment/types.hpp"

namespace ft::aug {

namespace cuda {

// One sample's work in one step.
struct Task {
  OpDraw d;
  Dims in, out;
  std::size_t in_off = 0, out_off = 0;  // element offsets in the step's source / destination
  float rt[6] = {0, 0, 0, 0, 0, 0};     // affine matrix rescaled for the source size
  BlendCoef k{1.0f, 0.0f};              // trivial_augment_wide colour blend coefficients
  bool flip = false;                    // a following hflip fused into this step
};

// What every sample of a step shares (the kernels' one argument).
struct Step {
  AugmentOp op;
  bool normalize = false;  // a following normalize fused in: write f32 (or bf16) CHW
  bool bf16 = false;       // the float output is bf16 (normalize and erasing steps)
  float mean[kMaxChannels] = {0, 0, 0, 0}, stdev[kMaxChannels] = {1, 1, 1, 1};
  int n_stats = 1;
  const std::uint8_t* in = nullptr;
  std::uint8_t* out_u8 = nullptr;
  float* out_f32 = nullptr;           // the float output, when !bf16
  std::uint16_t* out_bf16 = nullptr;  // ... when bf16
  const Task* tasks = nullptr;
  std::uint8_t* lut = nullptr;  // value tables: 3 x 256 per sample
  // The Philox coordinates of the op (random_erasing's noise): seed, epoch, op index, sample ids.
  std::uint64_t seed = 0;
  std::uint32_t epoch = 0, op_index = 0;
  const std::uint64_t* ids = nullptr;
};

}  // namespace cuda

// How an op's kernel is laid out: one thread per output pixel of a u8 image (the kernel stores
// the pixel, fusing a following flip or normalize), or one thread per element of the box
// t.d.(top, left, h, w) of the float CHW output, in place.
enum class Pass : std::uint8_t { pixels, box };

// Which statistics a sample's value tables are built from (a per-sample pass before the pixels).
struct TableNeeds {
  bool table = false;      // the sample maps its pixels through tables at all
  bool histogram = false;  // per-channel histograms of the sample
  bool gray_sum = false;   // the sum of gray_u8 over an RGB sample
};

// The defaults a specialisation inherits from; it then defines, as its kPass says:
//   Pass::pixels: static void pixel(const cuda::Step&, const cuda::Task&, int x, int y,
//                                   std::uint8_t* px)   writes the pixel's channels;
//   Pass::box:    static void element(const cuda::Step&, const cuda::Task&, std::size_t i, long e)
//                 writes element e of sample i's box;
// with kTables (value tables per sample and channel, built before the pixels): static TableNeeds
//   needs(const cuda::Task&); static void table(const cuda::Step&, const cuda::Task&, int ch,
//   const unsigned* hist, unsigned long long gray_sum, long n, std::uint8_t* lut) filling
//   channel ch's 256 entries; and pixel() takes the sample's 3 x 256 tables as a last argument;
// and, where the kernel reads more than the draw, plan(): the host's per-sample preparation of
// the task (throws std::runtime_error for what the kernel cannot do).
struct FunctorBase {
  static constexpr Pass kPass = Pass::pixels;
  static constexpr bool kTables = false;
  static void plan(const AugmentOp&, cuda::Task&) {}
};

template <OpKind K>
struct OpFunctor;  // specialised in ops/<name>.hpp; ops/functors.hpp includes them all

// The CPU loop of a pixel functor over one sample (an op's apply_cpu where it has no loop of its
// own): the same per-pixel code as its CUDA kernel, so both give the same bits.
template <OpKind K>
void apply_pixels_cpu(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims od,
                      const std::uint8_t* in, Dims id, Scratch&) {
  static_assert(OpFunctor<K>::kPass == Pass::pixels && !OpFunctor<K>::kTables);
  cuda::Step s;
  s.op = op;
  s.in = in;
  cuda::Task t;
  t.d = d;
  t.in = id;
  t.out = od;
  OpFunctor<K>::plan(op, t);
  for (int y = 0; y < od.h; ++y)
    for (int x = 0; x < od.w; ++x) OpFunctor<K>::pixel(s, t, x, y, out + hwc_offset(od, y, x));
}

}  // namespace ft::aug

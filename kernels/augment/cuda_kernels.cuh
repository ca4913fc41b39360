// Device kernels of the augmentation chain, over (pixel, sample) grids of a ragged batch, made
// from each op's functor (ops/<name>.hpp, the code the CPU loops share): a pixel kernel, a box
// kernel for the float image, and a per-sample table pass; launch_step picks an op's kernels by
// FT_AUGMENT_OPS. The build compiles this with --fmad=false so float results match the CPU bit
// for bit.
#pragma once

#include <algorithm>
#include <cstdint>

#include "kernels/augment/cuda_plan.hpp"
#include "kernels/augment/geometry.hpp"
#include "kernels/augment/ops/functors.hpp"

namespace ft::aug::cuda {

inline constexpr unsigned kThreads = 256;  // per block

// Writes one output pixel (c values), mirrored when the task fuses a flip, normalized when the
// step fuses normalize.
__device__ inline void store_pixel(const Step& s, const Task& t, int x, int y,
                                   const std::uint8_t* px) {
  const int ox = mirror(x, t.out.w, t.flip);
  const int c = t.out.c;
  if (s.normalize) {
    for (int ch = 0; ch < c; ++ch) {
      const int k = s.n_stats == 1 ? 0 : ch;
      const float v = normalize_value(px[ch], s.mean[k], s.stdev[k]);
      const std::size_t at = t.out_off + chw_offset(t.out, ch, y, ox);
      if (s.bf16)
        store_value(s.out_bf16 + at, v);
      else
        store_value(s.out_f32 + at, v);
    }
  } else {
    std::uint8_t* o = s.out_u8 + t.out_off + hwc_offset(t.out, y, ox);
    for (int ch = 0; ch < c; ++ch) o[ch] = px[ch];
  }
}

// Pixel index of this thread within sample blockIdx.y; false when past the sample's output.
__device__ inline bool pixel_of(const Task& t, int& x, int& y) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long>(t.out.h) * t.out.w) return false;
  y = static_cast<int>(i / t.out.w);
  x = static_cast<int>(i % t.out.w);
  return true;
}

// Pass::pixels: one thread per output pixel of sample blockIdx.y.
template <OpKind K>
__global__ void op_pixel_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.y];
  int x, y;
  if (!pixel_of(t, x, y)) return;
  std::uint8_t px[kMaxChannels] = {};  // a functor writes the output's channels
  if constexpr (OpFunctor<K>::kTables)
    OpFunctor<K>::pixel(s, t, x, y, px, s.lut + blockIdx.y * 768);
  else
    OpFunctor<K>::pixel(s, t, x, y, px);
  store_pixel(s, t, x, y, px);
}

// Pass::box: one thread per element of sample blockIdx.y's (c, h, w) box, in place.
template <OpKind K>
__global__ void op_box_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.y];
  if (!t.d.apply) return;
  const long e = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= static_cast<long>(t.d.h) * t.d.w * t.out.c) return;
  OpFunctor<K>::element(s, t, blockIdx.y, e);
}

// kTables: one block per sample builds its 3 x 256 tables, from its histograms (and gray sum)
// where the functor needs them.
template <OpKind K>
__global__ void op_table_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.x];
  const TableNeeds need = OpFunctor<K>::needs(t);
  if (!need.table) return;
  __shared__ unsigned int hist[3][256];
  __shared__ unsigned long long gray_sum;
  const int c = t.in.c;
  const long n = static_cast<long>(t.in.h) * t.in.w;
  for (int v = threadIdx.x; v < 768; v += blockDim.x) hist[v / 256][v % 256] = 0;
  if (threadIdx.x == 0) gray_sum = 0;
  __syncthreads();
  const std::uint8_t* in = s.in + t.in_off;
  if (need.histogram)
    for (long i = threadIdx.x; i < n; i += blockDim.x) {
      const std::uint8_t* p = in + i * c;
      for (int ch = 0; ch < c; ++ch) atomicAdd(&hist[ch][p[ch]], 1u);
      if (need.gray_sum)
        atomicAdd(&gray_sum, static_cast<unsigned long long>(gray_u8(p[0], p[1], p[2])));
    }
  __syncthreads();
  for (int ch = threadIdx.x; ch < c; ch += blockDim.x)
    OpFunctor<K>::table(s, t, ch, hist[ch], gray_sum, n, s.lut + blockIdx.x * 768 + ch * 256);
}

// Launches op K's kernels for step sp over n samples through launch(kernel, grid_x, grid_y,
// syncs): on a GPU a <<<>>> launch of kThreads-thread blocks, in tests a host emulation (a kernel
// that syncs inside a block runs there with one thread per block).
template <OpKind K, class Launch>
void launch_op(Launch&& launch, const StepPlan& sp, const Step& s, unsigned n) {
  using F = OpFunctor<K>;
  const auto gx = static_cast<unsigned>(std::max<long>(1, (sp.max_work + kThreads - 1) / kThreads));
  if constexpr (F::kTables) launch(&op_table_kernel<K>, n, 1u, true, s);
  if constexpr (F::kPass == Pass::box)
    launch(&op_box_kernel<K>, gx, n, false, s);
  else
    launch(&op_pixel_kernel<K>, gx, n, false, s);
}

template <class Launch>
void launch_step(Launch&& launch, const StepPlan& sp, const Step& s, unsigned n) {
  switch (s.op.kind) {
#define FT_LAUNCH_OP(name)                     \
  case OpKind::name:                           \
    launch_op<OpKind::name>(launch, sp, s, n); \
    return;
    FT_AUGMENT_OPS(FT_LAUNCH_OP)
#undef FT_LAUNCH_OP
  }
}

}  // namespace ft::aug::cuda

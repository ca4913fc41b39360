// Device kernels of the augmentation chain, one per op family, each over (pixel, sample) grids
// of a ragged batch. Per-pixel math is pixel.hpp's (the CPU loops call the same functions), and
// the build compiles this with --fmad=false so float results match the CPU bit for bit.
#pragma once

#include <cstdint>

#include "kernels/augment/cuda_plan.hpp"
#include "kernels/augment/geometry.hpp"
#include "kernels/augment/pixel.hpp"

namespace ft::aug::cuda {

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

// center_crop, random_crop (padding modes) and hflip: a window read with padding.
__global__ void crop_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.y];
  int x, y;
  if (!pixel_of(t, x, y)) return;
  const std::uint8_t* in = s.in + t.in_off;
  const PadMode mode = s.op.kind == OpKind::random_crop ? s.op.pad_mode : PadMode::constant;
  const bool own_flip = s.op.kind == OpKind::hflip && t.d.flip;
  const int sy = window_row(t.d.top, y, t.in.h, mode);
  const int sx = window_col(t.d.left, x, t.out.w, t.in.w, mode, own_flip);
  std::uint8_t px[kMaxChannels];
  for (int ch = 0; ch < t.in.c; ++ch) {
    const bool fill = sy < 0 || sx < 0;
    const float f = s.op.kind == OpKind::center_crop ? 0.0f : s.op.fill_for(ch);
    px[ch] = fill ? round_to_u8(f) : in[hwc_offset(t.in, sy, sx) + ch];
  }
  store_pixel(s, t, x, y, px);
}

// resize and random_resized_crop: separable taps computed per pixel, summed in the CPU's order
// (horizontal sums per source row, then the vertical combination).
__global__ void resize_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.y];
  int x, y;
  if (!pixel_of(t, x, y)) return;
  const std::uint8_t* in = s.in + t.in_off;
  const int c = t.in.c;
  std::uint8_t px[kMaxChannels];
  if (resize_is_copy(t.d.h, t.d.w, t.out)) {
    for (int ch = 0; ch < c; ++ch) px[ch] = in[hwc_offset(t.in, t.d.top + y, t.d.left + x) + ch];
    store_pixel(s, t, x, y, px);
    return;
  }
  int ix[kMaxTaps], iy[kMaxTaps];
  float wx[kMaxTaps], wy[kMaxTaps];
  const int tx = resize_taps(t.d.w, t.out.w, s.op.antialias),
            ty = resize_taps(t.d.h, t.out.h, s.op.antialias);
  resize_weights(x, t.d.w, t.out.w, s.op.antialias, ix, wx);
  resize_weights(y, t.d.h, t.out.h, s.op.antialias, iy, wy);
  for (int ch = 0; ch < c; ++ch) {
    float acc = 0.0f;
    for (int ky = 0; ky < ty; ++ky) {
      const std::uint8_t* row = in + hwc_offset(t.in, t.d.top + iy[ky], t.d.left);
      float r = 0.0f;
      for (int kx = 0; kx < tx; ++kx) r += wx[kx] * static_cast<float>(row[ix[kx] * c + ch]);
      acc += wy[ky] * r;
    }
    px[ch] = round_to_u8(acc);
  }
  store_pixel(s, t, x, y, px);
}

// rotate: affine warp with the op's interpolation and fill.
__global__ void rotate_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.y];
  int x, y;
  if (!pixel_of(t, x, y)) return;
  std::uint8_t px[kMaxChannels];
  affine_pixel(px, s.in + t.in_off, t.in.h, t.in.w, t.in.c, t.rt, x, y, s.op.interp, true,
               s.op.fill, s.op.n_fill);
  store_pixel(s, t, x, y, px);
}

__global__ void to_rgb_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.y];
  int x, y;
  if (!pixel_of(t, x, y)) return;
  const std::uint8_t* p = s.in + t.in_off + (static_cast<std::size_t>(y) * t.in.w + x) * t.in.c;
  std::uint8_t px[3] = {p[0], p[t.in.c == 3 ? 1 : 0], p[t.in.c == 3 ? 2 : 0]};
  store_pixel(s, t, x, y, px);
}

__global__ void normalize_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.y];
  int x, y;
  if (!pixel_of(t, x, y)) return;
  store_pixel(s, t, x, y, s.in + t.in_off + (static_cast<std::size_t>(y) * t.in.w + x) * t.in.c);
}

// random_erasing on f32 (or bf16) CHW, in place: one thread per element of the (c, h, w) box.
__global__ void erase_kernel(Step s, std::uint64_t seed, std::uint32_t epoch,
                             const std::uint64_t* ids, std::uint32_t op_index) {
  const Task& t = s.tasks[blockIdx.y];
  if (!t.d.apply) return;
  const long e = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long box = static_cast<long>(t.d.h) * t.d.w;
  if (e >= box * t.out.c) return;
  int ch, y, x;
  box_coords(e, t.d.h, t.d.w, ch, y, x);
  const float v = s.op.random_value ? erase_noise(seed, epoch, ids[blockIdx.y], op_index,
                                                  static_cast<std::uint32_t>(e))
                                    : s.op.fill_for(ch);
  const std::size_t at = t.out_off + chw_offset(t.out, ch, t.d.top + y, t.d.left + x);
  if (s.bf16)
    store_value(s.out_bf16 + at, v);
  else
    store_value(s.out_f32 + at, v);
}

// ---- trivial_augment_wide ---------------------------------------------------------------------
__device__ inline bool ta_uses_lut(TaOp t) {
  return t == TaOp::brightness || t == TaOp::contrast || t == TaOp::posterize ||
         t == TaOp::solarize || t == TaOp::auto_contrast || t == TaOp::equalize;
}

// The table of channel ch (one thread per channel).
__device__ inline void build_lut(const Step& s, const Task& t, int ch, const unsigned int* h,
                                 unsigned long long gray_sum, long n) {
  const TaOp op = t.d.ta;
  const int c = t.in.c;
  std::uint8_t* lut = s.lut + blockIdx.x * 768 + ch * 256;
  switch (op) {
    case TaOp::brightness:
      for (int v = 0; v < 256; ++v) lut[v] = blend(static_cast<float>(v), 0.0f, t.k);
      return;
    case TaOp::posterize:
      for (int v = 0; v < 256; ++v)
        lut[v] = posterize(static_cast<std::uint8_t>(v), static_cast<int>(t.d.magnitude));
      return;
    case TaOp::solarize:
      for (int v = 0; v < 256; ++v) lut[v] = solarize(static_cast<std::uint8_t>(v), t.d.magnitude);
      return;
    case TaOp::contrast: {
      unsigned long long sum = gray_sum;
      if (c != 3) {
        sum = 0;
        for (int v = 0; v < 256; ++v) sum += static_cast<unsigned long long>(v) * h[v];
      }
      const float mean = static_cast<float>(sum) / static_cast<float>(n);
      for (int v = 0; v < 256; ++v) lut[v] = blend(static_cast<float>(v), mean, t.k);
      return;
    }
    case TaOp::auto_contrast: {  // the channel's range from its histogram
      int lo = 0, hi = 255;
      while (lo < 255 && h[lo] == 0) ++lo;
      while (hi > 0 && h[hi] == 0) --hi;
      autocontrast_lut(lo, hi, lut);
      return;
    }
    case TaOp::equalize:
      equalize_lut(h, n, lut);
      return;
    default:
      return;
  }
}

// One block per sample: the per-value lookup table (3 x 256) of the sample's colour op, from its
// histograms where the op needs statistics (contrast mean, autocontrast range, equalize CDF).
// The tables are pixel.hpp's, as color.cpp builds them.
__global__ void ta_lut_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.x];
  const TaOp op = t.d.ta;
  if (!ta_uses_lut(op)) return;
  __shared__ unsigned int hist[3][256];
  __shared__ unsigned long long gray_sum;
  const int c = t.in.c;
  const long n = static_cast<long>(t.in.h) * t.in.w;
  for (int v = threadIdx.x; v < 768; v += blockDim.x) hist[v / 256][v % 256] = 0;
  if (threadIdx.x == 0) gray_sum = 0;
  __syncthreads();
  const std::uint8_t* in = s.in + t.in_off;
  if (op == TaOp::contrast || op == TaOp::auto_contrast || op == TaOp::equalize)
    for (long i = threadIdx.x; i < n; i += blockDim.x) {
      const std::uint8_t* p = in + i * c;
      for (int ch = 0; ch < c; ++ch) atomicAdd(&hist[ch][p[ch]], 1u);
      if (op == TaOp::contrast && c == 3)
        atomicAdd(&gray_sum, static_cast<unsigned long long>(gray_u8(p[0], p[1], p[2])));
    }
  __syncthreads();
  for (int ch = threadIdx.x; ch < c; ch += blockDim.x) build_lut(s, t, ch, hist[ch], gray_sum, n);
}

// Per pixel: identity, the geometric ops (affine with nearest / bilinear), colour, sharpness, or
// the table built by ta_lut_kernel.
__global__ void ta_apply_kernel(Step s) {
  const Task& t = s.tasks[blockIdx.y];
  int x, y;
  if (!pixel_of(t, x, y)) return;
  const std::uint8_t* in = s.in + t.in_off;
  const int c = t.in.c;
  const std::uint8_t* p = in + (static_cast<std::size_t>(y) * t.in.w + x) * c;
  std::uint8_t px[kMaxChannels];
  switch (t.d.ta) {
    case TaOp::shear_x:
    case TaOp::shear_y:
    case TaOp::translate_x:
    case TaOp::translate_y:
    case TaOp::rotate:
      affine_pixel(px, in, t.in.h, t.in.w, c, t.rt, x, y, s.op.interp, s.op.has_fill, s.op.fill,
                   s.op.n_fill);
      break;
    case TaOp::color: {
      const float g = c == 3 ? static_cast<float>(gray_u8(p[0], p[1], p[2])) : 0.0f;
      for (int ch = 0; ch < c; ++ch)
        px[ch] = c == 3 ? blend(static_cast<float>(p[ch]), g, t.k) : p[ch];
      break;
    }
    case TaOp::sharpness: {
      const bool small = t.in.h <= 2 || t.in.w <= 2;
      const bool border = x == 0 || y == 0 || x == t.in.w - 1 || y == t.in.h - 1;
      for (int ch = 0; ch < c; ++ch) {
        const std::uint8_t b = border ? p[ch] : sharpness_blur(in, t.in.w, c, x, y, ch);
        px[ch] = small ? p[ch] : blend(static_cast<float>(p[ch]), static_cast<float>(b), t.k);
      }
      break;
    }
    case TaOp::identity:
      for (int ch = 0; ch < c; ++ch) px[ch] = p[ch];
      break;
    default:
      for (int ch = 0; ch < c; ++ch) px[ch] = s.lut[blockIdx.y * 768 + ch * 256 + p[ch]];
      break;
  }
  store_pixel(s, t, x, y, px);
}

}  // namespace ft::aug::cuda

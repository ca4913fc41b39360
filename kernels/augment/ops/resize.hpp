// resize's functor (random_resized_crop's too): per-axis taps (PyTorch's antialiased triangle
// filter, or upsample_bilinear2d's two taps) and one output pixel summed as the CPU's separable
// loop sums it (horizontal sums per source row, then the vertical combination).
#pragma once

#include <math.h>

#include <stdexcept>
#include <string>

#include "kernels/augment/ops/functor.hpp"

namespace ft::aug {

inline constexpr int kMaxTaps = 33;  // the kernel's tap arrays: shrink factors up to 16 per axis

// Antialiased: PyTorch's _compute_weights_aa with the triangle filter (support widened by the
// scale when shrinking). Plain: upsample_bilinear2d, align_corners=False (two taps, the second
// clamped to the last pixel). Both use scale = in / out as float, as torch computes it.
FT_HD inline int resize_taps(int in, int out, bool antialias) {
  if (!antialias) return 2;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  const double support = scale >= 1.0f ? static_cast<double>(scale) : 1.0;
  return static_cast<int>(ceil(support)) * 2 + 1;
}

// Writes resize_taps(...) taps for output index i: idx[k] (valid indices) and w[k] (0 if unused).
FT_HD inline void resize_weights(int i, int in, int out, bool antialias, int* idx, float* w) {
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  if (!antialias) {
    float src = static_cast<float>(static_cast<double>(scale) * (i + 0.5) - 0.5);
    if (src < 0.0f) src = 0.0f;
    const int i0 = static_cast<int>(src);
    float lambda = src - static_cast<float>(i0);
    lambda = lambda < 0.0f ? 0.0f : lambda > 1.0f ? 1.0f : lambda;
    idx[0] = i0;
    idx[1] = i0 + (i0 < in - 1 ? 1 : 0);
    w[0] = 1.0f - lambda;
    w[1] = lambda;
    return;
  }
  const int taps = resize_taps(in, out, true);
  const float support = scale >= 1.0f ? scale : 1.0f;
  const float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
  const float center = static_cast<float>(static_cast<double>(scale) * (i + 0.5));
  long xmin = static_cast<long>(static_cast<double>(center - support) + 0.5);
  if (xmin < 0) xmin = 0;
  long xmax = static_cast<long>(static_cast<double>(center + support) + 0.5);
  if (xmax > in) xmax = in;
  const int xsize = static_cast<int>(xmax - xmin);
  float total = 0.0f;
  for (int j = 0; j < taps; ++j) {
    float v = 0.0f;
    if (j < xsize) {
      float x = static_cast<float>(
          (static_cast<double>(static_cast<float>(j + xmin) - center) + 0.5) * invscale);
      x = x < 0.0f ? -x : x;
      v = x < 1.0f ? 1.0f - x : 0.0f;
    }
    w[j] = v;
    idx[j] = static_cast<int>(xmin) + (j < xsize ? j : 0);
    total += v;
  }
  if (total != 0.0f)
    for (int j = 0; j < xsize; ++j) w[j] /= total;
}

template <>
struct OpFunctor<OpKind::resize> : FunctorBase {
  static void plan(const AugmentOp& op, cuda::Task& t) {
    if (resize_taps(t.d.w, t.out.w, op.antialias) > kMaxTaps ||
        resize_taps(t.d.h, t.out.h, op.antialias) > kMaxTaps)
      throw std::runtime_error(std::string("CUDA augment: ") + op_name(op.kind) +
                               " shrinks by more than 16x");
  }
  // The window t.d.(top, left, h, w) of the input resized to t.out.
  FT_HD static void pixel(const cuda::Step& s, const cuda::Task& t, int x, int y,
                          std::uint8_t* px) {
    const std::uint8_t* in = s.in + t.in_off;
    const int c = t.in.c;
    if (resize_is_copy(t.d.h, t.d.w, t.out)) {
      for (int ch = 0; ch < c; ++ch) px[ch] = in[hwc_offset(t.in, t.d.top + y, t.d.left + x) + ch];
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
  }
};

}  // namespace ft::aug

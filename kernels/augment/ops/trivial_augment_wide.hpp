// trivial_augment_wide's functor: per sample, the value tables of its colour ops (from the
// sample's histograms where the op needs statistics: contrast mean, autocontrast range, equalize
// CDF); per pixel, identity, the affine warp of the geometric ops, colour, sharpness, or the table.
// The formulas are torchvision 0.14's (the CPU loop, ta_color_cpu, uses the same functions).
#pragma once

#include <cstdint>

#include "kernels/augment/affine.hpp"
#include "kernels/augment/ops/functor.hpp"

namespace ft::aug {

// _blurred_degenerate_image at an interior pixel: 3x3 kernel of ones with 5 in the middle, / 13,
// conv2d in float32, then torch.round to u8 (borders keep the original pixel).
FT_HD inline std::uint8_t sharpness_blur(const std::uint8_t* in, int w, int c, int x, int y,
                                         int ch) {
  const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  float acc = 0.0f;
  for (int dy = -1; dy <= 1; ++dy)
    for (int dx = -1; dx <= 1; ++dx)
      acc += static_cast<float>(in[(static_cast<long>(y + dy) * w + x + dx) * c + ch]) *
             (dx == 0 && dy == 0 ? k5 : k1);
  return round_to_u8(acc);
}
FT_HD inline std::uint8_t posterize(std::uint8_t x, int bits) {
  return static_cast<std::uint8_t>(x & (0xFF << (8 - bits)) & 0xFF);
}
FT_HD inline std::uint8_t solarize(std::uint8_t x, float threshold) {
  return static_cast<float>(x) >= threshold ? static_cast<std::uint8_t>(255 - x) : x;
}

// autocontrast's table of a channel whose values span [lo, hi]: (v - lo) * (255 / (hi - lo)),
// clamped and truncated; a flat channel (torchvision's infinite scale) gets minimum 0, scale 1.
FT_HD inline void autocontrast_lut(int lo, int hi, std::uint8_t* lut) {
  float minimum = static_cast<float>(lo), scale = 1.0f;
  if (hi != lo)
    scale = 255.0f / (static_cast<float>(hi) - static_cast<float>(lo));
  else
    minimum = 0.0f;
  for (int v = 0; v < 256; ++v) lut[v] = clamp_to_u8((static_cast<float>(v) - minimum) * scale);
}

// equalize's table from a channel's histogram of n values (torchvision's _scale_channel): step =
// (n - the last non-zero bin) // 255, value v -> (cumulative count below v + step // 2) // step;
// step 0 leaves the channel unchanged. Count: the histogram's integer type.
template <class Count>
FT_HD inline void equalize_lut(const Count* hist, long long n, std::uint8_t* lut) {
  int last = 255;
  while (last > 0 && hist[last] == 0) --last;
  const long long step = (n - static_cast<long long>(hist[last])) / 255;
  long long cum = 0;
  for (int v = 0; v < 256; ++v) {
    const long long l = step == 0 ? v : (v == 0 ? 0 : (cum + step / 2) / step);
    lut[v] = static_cast<std::uint8_t>(l > 255 ? 255 : l);
    cum += static_cast<long long>(hist[v]);
  }
}

template <>
struct OpFunctor<OpKind::trivial_augment_wide> : FunctorBase {
  static constexpr bool kTables = true;

  static void plan(const AugmentOp&, cuda::Task& t) {
    affine_rescale(t.d.matrix, t.in.w, t.in.h, t.rt);
    t.k = blend_coef(1.0 + static_cast<double>(t.d.magnitude));
  }

  FT_HD static TableNeeds needs(const cuda::Task& t) {
    const TaOp op = t.d.ta;
    const bool stats = op == TaOp::contrast || op == TaOp::auto_contrast || op == TaOp::equalize;
    const bool table =
        stats || op == TaOp::brightness || op == TaOp::posterize || op == TaOp::solarize;
    return {table, stats, op == TaOp::contrast && t.in.c == 3};
  }

  // Channel ch's table from its histogram h of n values (and the gray sum of an RGB sample).
  FT_HD static void table(const cuda::Step&, const cuda::Task& t, int /*ch*/, const unsigned int* h,
                          unsigned long long gray_sum, long n, std::uint8_t* lut) {
    switch (t.d.ta) {
      case TaOp::brightness:
        for (int v = 0; v < 256; ++v) lut[v] = blend(static_cast<float>(v), 0.0f, t.k);
        return;
      case TaOp::posterize:
        for (int v = 0; v < 256; ++v)
          lut[v] = posterize(static_cast<std::uint8_t>(v), static_cast<int>(t.d.magnitude));
        return;
      case TaOp::solarize:
        for (int v = 0; v < 256; ++v)
          lut[v] = solarize(static_cast<std::uint8_t>(v), t.d.magnitude);
        return;
      case TaOp::contrast: {
        unsigned long long sum = gray_sum;
        if (t.in.c != 3) {
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

  // lut: the sample's 3 x 256 tables (built when needs(t).table).
  FT_HD static void pixel(const cuda::Step& s, const cuda::Task& t, int x, int y, std::uint8_t* px,
                          const std::uint8_t* lut) {
    const std::uint8_t* in = s.in + t.in_off;
    const int c = t.in.c;
    const std::uint8_t* p = in + hwc_offset(t.in, y, x);
    switch (t.d.ta) {
      case TaOp::shear_x:
      case TaOp::shear_y:
      case TaOp::translate_x:
      case TaOp::translate_y:
      case TaOp::rotate:
        affine_pixel(px, in, t.in.h, t.in.w, c, t.rt, x, y, s.op.interp, s.op.has_fill, s.op.fill,
                     s.op.n_fill);
        return;
      case TaOp::color: {
        const float g = c == 3 ? static_cast<float>(gray_u8(p[0], p[1], p[2])) : 0.0f;
        for (int ch = 0; ch < c; ++ch)
          px[ch] = c == 3 ? blend(static_cast<float>(p[ch]), g, t.k) : p[ch];
        return;
      }
      case TaOp::sharpness: {
        const bool small = t.in.h <= 2 || t.in.w <= 2;
        const bool border = x == 0 || y == 0 || x == t.in.w - 1 || y == t.in.h - 1;
        for (int ch = 0; ch < c; ++ch) {
          const std::uint8_t b = border ? p[ch] : sharpness_blur(in, t.in.w, c, x, y, ch);
          px[ch] = small ? p[ch] : blend(static_cast<float>(p[ch]), static_cast<float>(b), t.k);
        }
        return;
      }
      case TaOp::identity:
        for (int ch = 0; ch < c; ++ch) px[ch] = p[ch];
        return;
      default:
        for (int ch = 0; ch < c; ++ch) px[ch] = lut[ch * 256 + p[ch]];
        return;
    }
  }
};

}  // namespace ft::aug

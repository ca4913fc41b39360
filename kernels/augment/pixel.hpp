// Per-pixel math shared by the CPU loops and the CUDA kernels (FT_HD functions). Each function
// mirrors the arithmetic of the torchvision 0.14 / PyTorch 1.13 tensor path it reproduces
// (float32 throughout, torch.round = ties-to-even before u8 casts, truncating casts where torch
// casts without rounding), so CPU, CUDA and torchvision agree to within one u8 level.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#include "kernels/augment/geometry.hpp"  // pad_index and the window arithmetic
#include "kernels/augment/types.hpp"
#include "kernels/random/basic_math.hpp"
#include "kernels/random/philox.hpp"

namespace ft::aug {

// torch.round then .to(uint8): ties to even (rintf under the default rounding mode).
FT_HD inline std::uint8_t round_to_u8(float x) {
  x = rintf(x);
  return x <= 0.0f ? 0 : x >= 255.0f ? 255 : static_cast<std::uint8_t>(x);
}
// .clamp(0, 255).to(uint8): truncation, as torchvision's _blend and autocontrast do.
FT_HD inline std::uint8_t clamp_to_u8(float x) {
  return x <= 0.0f ? 0 : x >= 255.0f ? 255 : static_cast<std::uint8_t>(x);
}

// ---- resize: per-axis taps --------------------------------------------------------------------
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

// ---- affine (rotate, shear, translate) --------------------------------------------------------
// torchvision's _gen_affine_grid rescales the inverse matrix by (w/2, h/2); grid_sample with
// align_corners=False then unnormalizes. rt = {m0, m1, m2} / (0.5 w), {m3, m4, m5} / (0.5 h).
FT_HD inline void affine_rescale(const float* m, int w, int h, float* rt) {
  const float hw = 0.5f * static_cast<float>(w), hh = 0.5f * static_cast<float>(h);
  for (int k = 0; k < 3; ++k) {
    rt[k] = m[k] / hw;
    rt[3 + k] = m[3 + k] / hh;
  }
}

// One output pixel (x, y) of an affine warp of a u8 HWC image (same size in and out), all
// channels. Bilinear with has_fill reproduces torchvision's mask blend: v * mask + (1 - mask) *
// fill where mask is the in-bounds weight (so border pixels are attenuated twice, as torchvision
// does). C > 0 fixes the channel count at compile time (the loops unroll); C == 0 reads it from
// c_rt.
template <int C>
FT_HD inline void affine_pixel_c(std::uint8_t* out_px, const std::uint8_t* in, int h, int w,
                                 int c_rt, const float* rt, int x, int y, Interp interp,
                                 bool has_fill, const float* fill, int n_fill) {
  const int c = C > 0 ? C : c_rt;
  const float bx = static_cast<float>(x) - static_cast<float>(w) * 0.5f + 0.5f;
  const float by = static_cast<float>(y) - static_cast<float>(h) * 0.5f + 0.5f;
  const float gx = bx * rt[0] + by * rt[1] + rt[2];
  const float gy = bx * rt[3] + by * rt[4] + rt[5];
  const float ix = ((gx + 1.0f) * static_cast<float>(w) - 1.0f) / 2.0f;
  const float iy = ((gy + 1.0f) * static_cast<float>(h) - 1.0f) / 2.0f;
  if (interp == Interp::nearest) {
    const float rx = rintf(ix), ry = rintf(iy);
    const bool inside =
        rx >= 0.0f && rx < static_cast<float>(w) && ry >= 0.0f && ry < static_cast<float>(h);
    const std::uint8_t* p =
        inside ? in + (static_cast<long>(ry) * w + static_cast<long>(rx)) * c : nullptr;
    for (int ch = 0; ch < c; ++ch) {
      if (inside)
        out_px[ch] = p[ch];
      else
        out_px[ch] = has_fill ? round_to_u8(fill[n_fill == 1 ? 0 : ch]) : 0;
    }
    return;
  }
  const float fx = floorf(ix), fy = floorf(iy);
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const float wnw = (fx + 1.0f - ix) * (fy + 1.0f - iy);
  const float wne = (ix - fx) * (fy + 1.0f - iy);
  const float wsw = (fx + 1.0f - ix) * (iy - fy);
  const float wse = (ix - fx) * (iy - fy);
  if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {  // interior: the same sums, no branches
    const float mask = 0.0f + wnw + wne + wsw + wse;
    const std::uint8_t* p0 = in + (static_cast<long>(y0) * w + x0) * c;
    const std::uint8_t* p1 = p0 + static_cast<long>(w) * c;
    for (int ch = 0; ch < c; ++ch) {
      float v = 0.0f + p0[ch] * wnw + p0[c + ch] * wne + p1[ch] * wsw + p1[c + ch] * wse;
      if (has_fill) v = v * mask + (1.0f - mask) * fill[n_fill == 1 ? 0 : ch];
      out_px[ch] = round_to_u8(v);
    }
    return;
  }
  const bool in_x0 = x0 >= 0 && x0 < w, in_x1 = x0 + 1 >= 0 && x0 + 1 < w;
  const bool in_y0 = y0 >= 0 && y0 < h, in_y1 = y0 + 1 >= 0 && y0 + 1 < h;
  float mask = 0.0f;
  if (in_y0 && in_x0) mask += wnw;
  if (in_y0 && in_x1) mask += wne;
  if (in_y1 && in_x0) mask += wsw;
  if (in_y1 && in_x1) mask += wse;
  for (int ch = 0; ch < c; ++ch) {
    float v = 0.0f;
    if (in_y0 && in_x0) v += in[(static_cast<long>(y0) * w + x0) * c + ch] * wnw;
    if (in_y0 && in_x1) v += in[(static_cast<long>(y0) * w + x0 + 1) * c + ch] * wne;
    if (in_y1 && in_x0) v += in[(static_cast<long>(y0 + 1) * w + x0) * c + ch] * wsw;
    if (in_y1 && in_x1) v += in[(static_cast<long>(y0 + 1) * w + x0 + 1) * c + ch] * wse;
    if (has_fill) v = v * mask + (1.0f - mask) * fill[n_fill == 1 ? 0 : ch];
    out_px[ch] = round_to_u8(v);
  }
}

FT_HD inline void affine_pixel(std::uint8_t* out_px, const std::uint8_t* in, int h, int w, int c,
                               const float* rt, int x, int y, Interp interp, bool has_fill,
                               const float* fill, int n_fill) {
  if (c == 3)
    affine_pixel_c<3>(out_px, in, h, w, c, rt, x, y, interp, has_fill, fill, n_fill);
  else if (c == 1)
    affine_pixel_c<1>(out_px, in, h, w, c, rt, x, y, interp, has_fill, fill, n_fill);
  else
    affine_pixel_c<0>(out_px, in, h, w, c, rt, x, y, interp, has_fill, fill, n_fill);
}

// ---- colour (trivial_augment_wide, torchvision's _blend and friends) --------------------------
// _blend: (ratio * a + (1 - ratio) * b).clamp(0, 255).to(uint8), in float32. The two
// coefficients come from the Python double ratio (1.0 + magnitude), each rounded to float once.
struct BlendCoef {
  float r, q;
};
inline BlendCoef blend_coef(double ratio) {
  return {static_cast<float>(ratio), static_cast<float>(1.0 - ratio)};
}
FT_HD inline std::uint8_t blend(float a, float b, BlendCoef k) {
  return clamp_to_u8(k.r * a + k.q * b);
}
// rgb_to_grayscale: (0.2989 r + 0.587 g + 0.114 b).to(uint8), truncating.
FT_HD inline std::uint8_t gray_u8(std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  const float v = 0.2989f * static_cast<float>(r) + 0.587f * static_cast<float>(g);
  return static_cast<std::uint8_t>(v + 0.114f * static_cast<float>(b));
}
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

// ---- normalize and erasing noise ---------------------------------------------------------------
FT_HD inline float normalize_value(std::uint8_t x, float mean, float stdev) {
  return (static_cast<float>(x) / 255.0f - mean) / stdev;
}

// bfloat16 as its 16 bits: float -> bf16 rounds to nearest, ties to even, as torch's
// .to(torch.bfloat16) does (NaN -> the quiet NaN 0x7FC0); bf16 -> float is exact.
FT_HD inline std::uint16_t f32_to_bf16(float v) {
  std::uint32_t u;
  memcpy(&u, &v, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
FT_HD inline float bf16_to_f32(std::uint16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float v;
  memcpy(&v, &u, 4);
  return v;
}
// Stores a normalized value into an f32 or a bf16 (16-bit) image: the one place the two differ.
FT_HD inline void store_value(float* p, float v) { *p = v; }
FT_HD inline void store_value(std::uint16_t* p, float v) { *p = f32_to_bf16(v); }

// N(0, 1) noise for element e of sample's erased box: Box-Muller over one Philox block whose
// counter is the op's own (epoch, sample, op) with block index 2^31 + e / 2, far above any block
// the parameter draws use. Random access, so the CUDA kernel can compute any element alone.
// erase_noise_pair gives elements e & ~1 (r cos) and e | 1 (r sin) at once (the CPU loop's fast
// path). The log, cos and sin are basic_math.hpp's, not libm's or CUDA's, which differ in the
// last bits: CPU and CUDA noise are the same bits by construction.
FT_HD inline void erase_noise_pair(std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
                                   std::uint32_t op, std::uint32_t e, float& even, float& odd) {
  const std::uint32_t hi_op = (static_cast<std::uint32_t>(sample >> 32) & 0xFFFFu) | (op << 16);
  const rng::U32x4 b = rng::philox4x32_10(
      rng::U32x4{{0x80000000u + e / 2, epoch, static_cast<std::uint32_t>(sample), hi_op}},
      static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  const float u1 = static_cast<float>((b.v[0] >> 8) + 1) * (1.0f / 16777216.0f);  // (0, 1]
  const float u2 = static_cast<float>(b.v[1] >> 8) * (1.0f / 16777216.0f);        // [0, 1)
  const float r = rng::sqrt_rn(-2.0f * rng::log_basic(u1));
  float c, s;
  rng::cos_sin_2pi(u2, c, s);
  even = rng::mul_rn(r, c);
  odd = rng::mul_rn(r, s);
}
FT_HD inline float erase_noise(std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
                               std::uint32_t op, std::uint32_t e) {
  float even, odd;
  erase_noise_pair(seed, epoch, sample, op, e, even, odd);
  return (e & 1u) ? odd : even;
}

}  // namespace ft::aug

// Per-pixel helpers several augmentation ops share (FT_HD, used by the CPU loops and the CUDA
// kernels): u8 rounding as torch casts, torchvision's colour blend and grayscale, a padded window
// read, bfloat16 storage. Each op's own functor is in kernels/augment/ops/<op>.hpp. The arithmetic
// mirrors the torchvision 0.14 / PyTorch 1.13 tensor path (float32 throughout, torch.round =
// ties-to-even before u8 casts, truncating casts where torch casts without rounding), so CPU, CUDA
// and torchvision agree to within one u8 level.
#pragma once

#include <math.h>

#include <cstdint>
#include <cstring>

#include "kernels/augment/geometry.hpp"  // pad_index and the window arithmetic
#include "kernels/augment/types.hpp"
#include "kernels/bf16_bits.hpp"
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

// ---- colour ---------------------------------------------------------------------------------
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

// ---- crop window ------------------------------------------------------------------------------
// Output pixel (x, y) (all channels) of a window at (top, left) of `in`, reading padding per
// `mode`, mirrored when `flip`; where the fill applies, fill[0 or ch] rounded (0 when fill is
// null). center_crop, random_crop and hflip read this way.
FT_HD inline void window_pixel(std::uint8_t* px, const std::uint8_t* in, Dims in_d, int out_w,
                               int top, int left, int x, int y, PadMode mode, bool flip,
                               const float* fill, int n_fill) {
  const int sy = window_row(top, y, in_d.h, mode);
  const int sx = window_col(left, x, out_w, in_d.w, mode, flip);
  for (int ch = 0; ch < in_d.c; ++ch) {
    const float f = fill ? fill[n_fill == 1 ? 0 : ch] : 0.0f;
    px[ch] = sy < 0 || sx < 0 ? round_to_u8(f) : in[hwc_offset(in_d, sy, sx) + ch];
  }
}

// ---- bfloat16 ----------------------------------------------------------------------------------
// bfloat16 as its 16 bits, rounded as torch's .to(torch.bfloat16): kernels/bf16_bits.hpp.
using ft::bf16_to_f32;
using ft::f32_to_bf16;
// Stores a normalized value into an f32 or a bf16 (16-bit) image: the one place the two differ.
FT_HD inline void store_value(float* p, float v) { *p = v; }
FT_HD inline void store_value(std::uint16_t* p, float v) { *p = f32_to_bf16(v); }

}  // namespace ft::aug

// The affine warp of rotate and trivial_augment_wide's shear / translate / rotate (FT_HD, shared by
// the CPU loops and the CUDA kernels): torchvision's F.affine on a u8 HWC image, grid_sample with
// align_corners=False, nearest or bilinear, with torchvision's fill mask blend.
#pragma once

#include <math.h>

#include <cstdint>

#include "kernels/augment/pixel.hpp"
#include "kernels/augment/types.hpp"

namespace ft::aug {

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

}  // namespace ft::aug

// The affine warp's CPU loop (rotate and trivial_augment_wide's geometric ops), a row at a time:
// first every pixel's source coordinates, taps and weights over the row (the float operations of
// affine_pixel_c, in its order, in a loop the compiler vectorises), then the taps gathered per
// channel without branches. A tap outside the image gets weight +0 and reads pixel 0: adding +0 to
// a non-negative sum leaves it unchanged, so the sums equal affine_pixel_c's (and the CUDA
// kernel's) bit for bit, at the border too.
#include <math.h>

#include <algorithm>

#include "kernels/augment/affine.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/pixel.hpp"

namespace ft::aug {

namespace {

// Source coordinates (ix, iy) of the pixels of output row y, as affine_pixel_c computes them.
void source_coords(float* ix, float* iy, int y, int w, int h, const float* rt) {
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  const float by = static_cast<float>(y) - fh * 0.5f + 0.5f;
  for (int x = 0; x < w; ++x) {
    const float bx = static_cast<float>(x) - fw * 0.5f + 0.5f;
    const float gx = bx * rt[0] + by * rt[1] + rt[2];
    const float gy = bx * rt[3] + by * rt[4] + rt[5];
    ix[x] = ((gx + 1.0f) * fw - 1.0f) / 2.0f;
    iy[x] = ((gy + 1.0f) * fh - 1.0f) / 2.0f;
  }
}

// Bilinear taps of one row: element offsets of the 4 corners (nw, ne, sw, se) and their weights,
// +0 where the corner is outside, and the in-bounds weight sum (torchvision's mask).
struct Taps {
  int* off;     // 4 per pixel
  float* wt;    // 4 per pixel
  float* mask;  // 1 per pixel
};

void bilinear_taps(Taps t, const float* ix, const float* iy, int w, int h, int c) {
  for (int x = 0; x < w; ++x) {
    const float fx = floorf(ix[x]), fy = floorf(iy[x]);
    const float ax = fx + 1.0f - ix[x], bx = ix[x] - fx;
    const float ay = fy + 1.0f - iy[x], by = iy[x] - fy;
    const float wk[4] = {ax * ay, bx * ay, ax * by, bx * by};
    // Clamped before the conversion (a far-away coordinate must not overflow the int); the
    // clamp keeps every corner's inside / outside status.
    const int x0 = static_cast<int>(std::clamp(fx, -2.0f, static_cast<float>(w)));
    const int y0 = static_cast<int>(std::clamp(fy, -2.0f, static_cast<float>(h)));
    const bool in_x[2] = {x0 >= 0 && x0 < w, x0 + 1 >= 0 && x0 + 1 < w};
    const bool in_y[2] = {y0 >= 0 && y0 < h, y0 + 1 >= 0 && y0 + 1 < h};
    float mask = 0.0f;
    for (int k = 0; k < 4; ++k) {
      const int dx = k & 1, dy = k >> 1;
      const bool inside = in_x[dx] && in_y[dy];
      t.off[4 * x + k] = inside ? ((y0 + dy) * w + x0 + dx) * c : 0;
      t.wt[4 * x + k] = inside ? wk[k] : 0.0f;
      mask += t.wt[4 * x + k];
    }
    t.mask[x] = mask;
  }
}

template <int C>
void bilinear_row(std::uint8_t* out, const std::uint8_t* in, Taps t, int w, int c_rt, bool has_fill,
                  const float* fill) {
  const int c = C > 0 ? C : c_rt;
  for (int x = 0; x < w; ++x) {
    const int* o = t.off + 4 * x;
    const float* wk = t.wt + 4 * x;
    const float mask = t.mask[x];
    for (int ch = 0; ch < c; ++ch) {
      float v = 0.0f + in[o[0] + ch] * wk[0] + in[o[1] + ch] * wk[1] + in[o[2] + ch] * wk[2] +
                in[o[3] + ch] * wk[3];
      if (has_fill) v = v * mask + (1.0f - mask) * fill[ch];
      out[x * c + ch] = round_to_u8(v);
    }
  }
}

// Nearest: the source pixel's offset, or -1 outside.
void nearest_taps(int* off, const float* ix, const float* iy, int w, int h, int c) {
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  for (int x = 0; x < w; ++x) {
    const float rx = rintf(ix[x]), ry = rintf(iy[x]);
    const bool inside = rx >= 0.0f && rx < fw && ry >= 0.0f && ry < fh;
    const int sx = static_cast<int>(std::clamp(rx, 0.0f, fw - 1.0f));
    const int sy = static_cast<int>(std::clamp(ry, 0.0f, fh - 1.0f));
    off[x] = inside ? (sy * w + sx) * c : -1;
  }
}

template <int C>
void nearest_row(std::uint8_t* out, const std::uint8_t* in, const int* off, int w, int c_rt,
                 const std::uint8_t* fill_u8) {
  const int c = C > 0 ? C : c_rt;
  for (int x = 0; x < w; ++x)
    for (int ch = 0; ch < c; ++ch) out[x * c + ch] = off[x] < 0 ? fill_u8[ch] : in[off[x] + ch];
}

template <int C>
void affine_rows(std::uint8_t* out, const std::uint8_t* in, Dims d, const float* rt, Interp interp,
                 bool has_fill, const float* fill, AffineScratch& s) {
  float* ix = grow(s.ix, static_cast<std::size_t>(d.w));
  float* iy = grow(s.iy, static_cast<std::size_t>(d.w));
  std::uint8_t fill_u8[kMaxChannels];
  for (int ch = 0; ch < d.c; ++ch) fill_u8[ch] = has_fill ? round_to_u8(fill[ch]) : 0;
  const std::size_t row = static_cast<std::size_t>(d.w) * d.c;
  if (interp == Interp::nearest) {
    int* off = grow(s.off, static_cast<std::size_t>(d.w));
    for (int y = 0; y < d.h; ++y) {
      source_coords(ix, iy, y, d.w, d.h, rt);
      nearest_taps(off, ix, iy, d.w, d.h, d.c);
      nearest_row<C>(out + y * row, in, off, d.w, d.c, fill_u8);
    }
    return;
  }
  const Taps t{grow(s.off, 4 * static_cast<std::size_t>(d.w)),
               grow(s.wt, 4 * static_cast<std::size_t>(d.w)),
               grow(s.mask, static_cast<std::size_t>(d.w))};
  for (int y = 0; y < d.h; ++y) {
    source_coords(ix, iy, y, d.w, d.h, rt);
    bilinear_taps(t, ix, iy, d.w, d.h, d.c);
    bilinear_row<C>(out + y * row, in, t, d.w, d.c, has_fill, fill);
  }
}

}  // namespace

void affine_cpu(std::uint8_t* out, const std::uint8_t* in, Dims d, const float* m, Interp interp,
                bool has_fill, const float* fill, int n_fill, AffineScratch& s) {
  float rt[6];
  affine_rescale(m, d.w, d.h, rt);
  float f[kMaxChannels];
  for (int ch = 0; ch < d.c; ++ch) f[ch] = has_fill ? fill[n_fill == 1 ? 0 : ch] : 0.0f;
  if (d.c == 3)
    affine_rows<3>(out, in, d, rt, interp, has_fill, f, s);
  else if (d.c == 1)
    affine_rows<1>(out, in, d, rt, interp, has_fill, f, s);
  else
    affine_rows<0>(out, in, d, rt, interp, has_fill, f, s);
}

}  // namespace ft::aug

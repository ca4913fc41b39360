// The affine warp's CPU loop (rotate and trivial_augment_wide's geometric ops), a row at a time:
// first every pixel's source coordinates, taps and weights over the row (the float operations of
// affine_pixel_c, in its order, four pixels at a time), then the taps gathered per channel without
// branches (an RGB pixel's channels as one vector). A tap outside the image gets weight +0 and
// reads pixel 0: adding +0 to a non-negative sum leaves it unchanged, so the sums equal
// affine_pixel_c's (and the CUDA kernel's) bit for bit, at the border too.
#include <math.h>
#include <smmintrin.h>  // SSE4.1, part of the x86-64-v2 baseline

#include <climits>
#include <cstring>

#include "kernels/augment/affine.hpp"
#include "kernels/augment/affine_rows.hpp"
#include "kernels/augment/cpu_isa.hpp"
#include "kernels/augment/cpu_round.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/pixel.hpp"

namespace ft::aug {

namespace {

// Source coordinates (ix, iy) of pixels x0..w-1 of output row y, as affine_pixel_c computes them.
void source_coords(float* ix, float* iy, int y, int x0, int w, int h, const float* rt) {
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  const float by = static_cast<float>(y) - fh * 0.5f + 0.5f;
  for (int x = x0; x < w; ++x) {
    const float bx = static_cast<float>(x) - fw * 0.5f + 0.5f;
    const float gx = bx * rt[0] + by * rt[1] + rt[2];
    const float gy = bx * rt[3] + by * rt[4] + rt[5];
    ix[x] = ((gx + 1.0f) * fw - 1.0f) / 2.0f;
    iy[x] = ((gy + 1.0f) * fh - 1.0f) / 2.0f;
  }
}

// Four pixels at x.. at once (SSE4.1): the scalar loop's operations lane by lane.
void bilinear_taps4(const Taps& t, const float* ix, const float* iy, int x, int w, int h, int c) {
  const __m128 one = _mm_set1_ps(1.0f), lo = _mm_set1_ps(-2.0f);
  const __m128i wv = _mm_set1_epi32(w), hv = _mm_set1_epi32(h), cv = _mm_set1_epi32(c);
  const __m128i neg1 = _mm_set1_epi32(-1), onei = _mm_set1_epi32(1);
  const __m128 vix = _mm_loadu_ps(ix + x), viy = _mm_loadu_ps(iy + x);
  const __m128 fx = _mm_floor_ps(vix), fy = _mm_floor_ps(viy);
  const __m128 ax = _mm_sub_ps(_mm_add_ps(fx, one), vix), bx = _mm_sub_ps(vix, fx);
  const __m128 ay = _mm_sub_ps(_mm_add_ps(fy, one), viy), by = _mm_sub_ps(viy, fy);
  const __m128i x0 =
      _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(fx, lo), _mm_set1_ps(static_cast<float>(w))));
  const __m128i y0 =
      _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(fy, lo), _mm_set1_ps(static_cast<float>(h))));
  const __m128i x1 = _mm_add_epi32(x0, onei), y1 = _mm_add_epi32(y0, onei);
  const auto inside = [&](__m128i v, __m128i n) {
    return _mm_and_si128(_mm_cmpgt_epi32(v, neg1), _mm_cmplt_epi32(v, n));
  };
  const __m128i ix0 = inside(x0, wv), ix1 = inside(x1, wv);
  const __m128i iy0 = inside(y0, hv), iy1 = inside(y1, hv);
  const __m128i in[4] = {_mm_and_si128(ix0, iy0), _mm_and_si128(ix1, iy0), _mm_and_si128(ix0, iy1),
                         _mm_and_si128(ix1, iy1)};
  const __m128i base = _mm_mullo_epi32(_mm_add_epi32(_mm_mullo_epi32(y0, wv), x0), cv);
  const __m128i step[4] = {_mm_setzero_si128(), cv, _mm_mullo_epi32(wv, cv),
                           _mm_add_epi32(_mm_mullo_epi32(wv, cv), cv)};
  const __m128 wk[4] = {_mm_mul_ps(ax, ay), _mm_mul_ps(bx, ay), _mm_mul_ps(ax, by),
                        _mm_mul_ps(bx, by)};
  __m128 mask = _mm_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    const __m128 wgt = _mm_and_ps(_mm_castsi128_ps(in[k]), wk[k]);  // +0 outside
    _mm_storeu_si128(reinterpret_cast<__m128i*>(t.off[k] + x),
                     _mm_and_si128(in[k], _mm_add_epi32(base, step[k])));
    _mm_storeu_ps(t.wt[k] + x, wgt);
    mask = _mm_add_ps(mask, wgt);
  }
  _mm_storeu_ps(t.mask + x, mask);
}

// Bilinear taps (affine_rows.hpp) of pixels x0..w-1 of one row. Branch-free so the loop
// vectorises.
void bilinear_taps(const Taps& t, const float* ix, const float* iy, int x0, int w, int h, int c) {
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  int x = x0;
  for (; x + 4 <= w; x += 4) bilinear_taps4(t, ix, iy, x, w, h, c);
  for (; x < w; ++x) {
    const float fx = floorf(ix[x]), fy = floorf(iy[x]);
    const float ax = fx + 1.0f - ix[x], bx = ix[x] - fx;
    const float ay = fy + 1.0f - iy[x], by = iy[x] - fy;
    // Clamped before the conversion (a far-away coordinate must not overflow the int); the
    // clamp keeps every corner's inside / outside status.
    float cx = fx > -2.0f ? fx : -2.0f, cy = fy > -2.0f ? fy : -2.0f;
    cx = cx < fw ? cx : fw;
    cy = cy < fh ? cy : fh;
    const int x0 = static_cast<int>(cx), y0 = static_cast<int>(cy);
    // Bitwise & and unsigned compares (no short-circuit jumps), so the loop vectorises.
    const bool ix0 = static_cast<unsigned>(x0) < static_cast<unsigned>(w);
    const bool ix1 = static_cast<unsigned>(x0 + 1) < static_cast<unsigned>(w);
    const bool iy0 = static_cast<unsigned>(y0) < static_cast<unsigned>(h);
    const bool iy1 = static_cast<unsigned>(y0 + 1) < static_cast<unsigned>(h);
    const bool in0 = ix0 & iy0, in1 = ix1 & iy0, in2 = ix0 & iy1, in3 = ix1 & iy1;
    const int base = (y0 * w + x0) * c;
    const float w0 = in0 ? ax * ay : 0.0f, w1 = in1 ? bx * ay : 0.0f;
    const float w2 = in2 ? ax * by : 0.0f, w3 = in3 ? bx * by : 0.0f;
    t.off[0][x] = in0 ? base : 0;
    t.off[1][x] = in1 ? base + c : 0;
    t.off[2][x] = in2 ? base + w * c : 0;
    t.off[3][x] = in3 ? base + w * c + c : 0;
    t.wt[0][x] = w0;
    t.wt[1][x] = w1;
    t.wt[2][x] = w2;
    t.wt[3][x] = w3;
    t.mask[x] = 0.0f + w0 + w1 + w2 + w3;
  }
}

// The 3 channels of the pixel at p and the byte after it, as floats (the caller makes sure that
// byte is inside the image).
inline __m128 load_rgbx(const std::uint8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v)));
}

// RGB: a pixel's three channels as the lanes of one vector, each lane the scalar loop's sum.
// Returns the first x left to the scalar loop: a pixel whose tap is the image's last pixel
// (the 4-byte load would run one byte past the image).
int bilinear_row_rgb(std::uint8_t* out, const std::uint8_t* in, std::size_t numel, const Taps& t,
                     int w, bool has_fill, const float* fill) {
  const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.0f), top = _mm_set1_ps(255.0f);
  const __m128 fillv = _mm_setr_ps(fill[0], fill[1], fill[2], 0.0f);
  const int last = static_cast<int>(numel) - 3;
  for (int x = 0; x < w; ++x) {
    const int o[4] = {t.off[0][x], t.off[1][x], t.off[2][x], t.off[3][x]};
    if (o[0] == last || o[1] == last || o[2] == last || o[3] == last) return x;
    __m128 v = zero;
    for (int k = 0; k < 4; ++k)
      v = _mm_add_ps(v, _mm_mul_ps(load_rgbx(in + o[k]), _mm_set1_ps(t.wt[k][x])));
    if (has_fill) {
      const __m128 m = _mm_set1_ps(t.mask[x]);
      v = _mm_add_ps(_mm_mul_ps(v, m), _mm_mul_ps(_mm_sub_ps(one, m), fillv));
    }
    v = _mm_min_ps(_mm_max_ps(_mm_round_ps(v, _MM_FROUND_CUR_DIRECTION), zero), top);
    const __m128i b = _mm_cvttps_epi32(v);
    const std::int32_t px = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(b, b), b));
    std::memcpy(out + 3 * x, &px, 3);
  }
  return w;
}

template <int C>
void bilinear_row(std::uint8_t* out, const std::uint8_t* in, std::size_t numel, const Taps& t,
                  int w, int c_rt, bool has_fill, const float* fill) {
  int x0 = 0;
  if constexpr (C == 3) x0 = bilinear_row_rgb(out, in, numel, t, w, has_fill, fill);
  for (int x = x0; x < w; ++x) bilinear_px<C>(out, in, t, x, c_rt, has_fill, fill);
}

// Nearest, four pixels at x.. at once (SSE4.1): the scalar loop's operations lane by lane.
void nearest_taps4(int* off, const float* ix, const float* iy, int x, int w, int h, int c) {
  const __m128 zero = _mm_setzero_ps();
  const __m128 fw = _mm_set1_ps(static_cast<float>(w)), fh = _mm_set1_ps(static_cast<float>(h));
  const __m128 rx = _mm_round_ps(_mm_loadu_ps(ix + x), _MM_FROUND_CUR_DIRECTION);
  const __m128 ry = _mm_round_ps(_mm_loadu_ps(iy + x), _MM_FROUND_CUR_DIRECTION);
  const __m128 inside = _mm_and_ps(_mm_and_ps(_mm_cmpge_ps(rx, zero), _mm_cmplt_ps(rx, fw)),
                                   _mm_and_ps(_mm_cmpge_ps(ry, zero), _mm_cmplt_ps(ry, fh)));
  const __m128 one = _mm_set1_ps(1.0f);
  const __m128i sx = _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(rx, zero), _mm_sub_ps(fw, one)));
  const __m128i sy = _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(ry, zero), _mm_sub_ps(fh, one)));
  const __m128i o =
      _mm_mullo_epi32(_mm_add_epi32(_mm_mullo_epi32(sy, _mm_set1_epi32(w)), sx), _mm_set1_epi32(c));
  const __m128i in = _mm_castps_si128(inside);  // all ones inside: o; outside: -1
  _mm_storeu_si128(reinterpret_cast<__m128i*>(off + x),
                   _mm_or_si128(_mm_and_si128(in, o), _mm_andnot_si128(in, _mm_set1_epi32(-1))));
}

// Nearest: the source pixel's offset, or -1 outside.
void nearest_taps(int* off, const float* ix, const float* iy, int w, int h, int c) {
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  int x = 0;
  for (; x + 4 <= w; x += 4) nearest_taps4(off, ix, iy, x, w, h, c);
  for (; x < w; ++x) {
    const float rx = rintf(ix[x]), ry = rintf(iy[x]);
    const bool inside = rx >= 0.0f && rx < fw && ry >= 0.0f && ry < fh;
    float cx = rx > 0.0f ? rx : 0.0f, cy = ry > 0.0f ? ry : 0.0f;
    cx = cx < fw - 1.0f ? cx : fw - 1.0f;
    cy = cy < fh - 1.0f ? cy : fh - 1.0f;
    const int sx = static_cast<int>(cx), sy = static_cast<int>(cy);
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
      source_coords(ix, iy, y, 0, d.w, d.h, rt);
      nearest_taps(off, ix, iy, d.w, d.h, d.c);
      nearest_row<C>(out + y * row, in, off, d.w, d.c, fill_u8);
    }
    return;
  }
  // The AVX2 RGB path's int offsets index a bordered float copy: 4 (h + 2) (w + 2) floats.
  const bool rgb_fits = 4 * (static_cast<std::int64_t>(d.h) + 2) * (d.w + 2) <= INT_MAX;
  if (C == 3 && rgb_fits && cpu_isa() >= CpuIsa::avx2) {
    affine_bilinear_rgb_avx2(out, in, d.h, d.w, rt, has_fill, fill, s);
    return;
  }
  const std::size_t n = static_cast<std::size_t>(d.w);
  int* off = grow(s.off, 4 * n);
  float* wt = grow(s.wt, 4 * n);
  const Taps t{{off, off + n, off + 2 * n, off + 3 * n},
               {wt, wt + n, wt + 2 * n, wt + 3 * n},
               grow(s.mask, n)};
  const bool avx2 = cpu_isa() >= CpuIsa::avx2;
  for (int y = 0; y < d.h; ++y) {
    const int x0 = avx2 ? bilinear_taps_avx2(t, rt, y, d.w, d.h, d.c) : 0;
    source_coords(ix, iy, y, x0, d.w, d.h, rt);
    bilinear_taps(t, ix, iy, x0, d.w, d.h, d.c);
    bilinear_row<C>(out + y * row, in, d.numel(), t, d.w, d.c, has_fill, fill);
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

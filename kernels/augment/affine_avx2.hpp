// Internal to the affine warp's AVX2 loops (affine_avx2.cpp, affine_rgb_avx2.cpp): 8 pixels' source
// coordinates and bilinear weights, source_coords' and bilinear_taps4's float operations lane by
// lane (no FMA: the library builds with -ffp-contract=off), so they equal the scalar ones bit for
// bit. Every function carries the AVX2 target attribute; call them only from AVX2 functions.
#pragma once

#include <immintrin.h>

#define FT_AVX2 __attribute__((target("avx2")))

namespace ft::aug::avx2 {

FT_AVX2 inline __m256i inside8(__m256i v, __m256i n) {
  return _mm256_and_si256(_mm256_cmpgt_epi32(v, _mm256_set1_epi32(-1)), _mm256_cmpgt_epi32(n, v));
}

// Row y's constants for coords8.
struct Coords8 {
  __m256 bx_half_w, half, r0, r3, byr1, byr4, r2, r5, one, fw, fh;
};

FT_AVX2 inline Coords8 row_coords(const float* rt, int y, int w, int h) {
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  const float by = static_cast<float>(y) - fh * 0.5f + 0.5f;
  return Coords8{_mm256_set1_ps(fw * 0.5f), _mm256_set1_ps(0.5f),       _mm256_set1_ps(rt[0]),
                 _mm256_set1_ps(rt[3]),     _mm256_set1_ps(by * rt[1]), _mm256_set1_ps(by * rt[4]),
                 _mm256_set1_ps(rt[2]),     _mm256_set1_ps(rt[5]),      _mm256_set1_ps(1.0f),
                 _mm256_set1_ps(fw),        _mm256_set1_ps(fh)};
}

// Source coordinates of pixels x..x+7 of the row.
FT_AVX2 inline void coords8(const Coords8& k, int x, __m256& ix, __m256& iy) {
  const __m256i xi =
      _mm256_add_epi32(_mm256_set1_epi32(x), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256 bx = _mm256_add_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(xi), k.bx_half_w), k.half);
  const __m256 gx = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(bx, k.r0), k.byr1), k.r2);
  const __m256 gy = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(bx, k.r3), k.byr4), k.r5);
  // "/ 2.0f" as "* 0.5f": both give the exact half, rounded once (the same float), and a
  // multiply is far cheaper than a divide.
  ix = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_add_ps(gx, k.one), k.fw), k.one), k.half);
  iy = _mm256_mul_ps(_mm256_sub_ps(_mm256_mul_ps(_mm256_add_ps(gy, k.one), k.fh), k.one), k.half);
}

// The bilinear weights of 8 pixels: the top-left corner (x0, y0) (clamped to [-2, w] x [-2, h],
// which keeps every corner's inside / outside status), each corner's inside mask and weight
// (+0 outside), and the in-bounds weight sum.
struct Weights8 {
  __m256i x0, y0, in[4];
  __m256 wk[4], mask;
};

FT_AVX2 inline Weights8 weights8(__m256 vix, __m256 viy, int w, int h) {
  const __m256 one = _mm256_set1_ps(1.0f), lo = _mm256_set1_ps(-2.0f);
  const __m256i wv = _mm256_set1_epi32(w), hv = _mm256_set1_epi32(h);
  const __m256i onei = _mm256_set1_epi32(1);
  const __m256 fx = _mm256_floor_ps(vix), fy = _mm256_floor_ps(viy);
  const __m256 ax = _mm256_sub_ps(_mm256_add_ps(fx, one), vix), bx = _mm256_sub_ps(vix, fx);
  const __m256 ay = _mm256_sub_ps(_mm256_add_ps(fy, one), viy), by = _mm256_sub_ps(viy, fy);
  Weights8 r;
  r.x0 = _mm256_cvttps_epi32(
      _mm256_min_ps(_mm256_max_ps(fx, lo), _mm256_set1_ps(static_cast<float>(w))));
  r.y0 = _mm256_cvttps_epi32(
      _mm256_min_ps(_mm256_max_ps(fy, lo), _mm256_set1_ps(static_cast<float>(h))));
  const __m256i x1 = _mm256_add_epi32(r.x0, onei), y1 = _mm256_add_epi32(r.y0, onei);
  const __m256i ix0 = inside8(r.x0, wv), ix1 = inside8(x1, wv);
  const __m256i iy0 = inside8(r.y0, hv), iy1 = inside8(y1, hv);
  r.in[0] = _mm256_and_si256(ix0, iy0);
  r.in[1] = _mm256_and_si256(ix1, iy0);
  r.in[2] = _mm256_and_si256(ix0, iy1);
  r.in[3] = _mm256_and_si256(ix1, iy1);
  const __m256 wk[4] = {_mm256_mul_ps(ax, ay), _mm256_mul_ps(bx, ay), _mm256_mul_ps(ax, by),
                        _mm256_mul_ps(bx, by)};
  r.mask = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    r.wk[k] = _mm256_and_ps(_mm256_castsi256_ps(r.in[k]), wk[k]);  // +0 outside
    r.mask = _mm256_add_ps(r.mask, r.wk[k]);
  }
  return r;
}

}  // namespace ft::aug::avx2

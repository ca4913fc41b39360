// AVX2 forms of the affine warp's bilinear row loops: coordinates and taps 8 pixels at a time
// (source_coords then bilinear_taps4's operations, lane by lane), and RGB pixels two per vector
// from a float RGBx copy of the image (one 16-byte load per tap; Zen 4's gathers were slower).
// Compiled for AVX2 by function attribute only (the rest of the build stays x86-64-v2) and
// without FMA, so each sum is the scalar loop's, bit for bit.
#include <immintrin.h>

#include <cstring>

#include "kernels/augment/affine_rows.hpp"

#define FT_AVX2 __attribute__((target("avx2")))

namespace ft::aug {

namespace {

FT_AVX2 inline __m256i inside8(__m256i v, __m256i n) {
  return _mm256_and_si256(_mm256_cmpgt_epi32(v, _mm256_set1_epi32(-1)), _mm256_cmpgt_epi32(n, v));
}

// Source coordinates of pixels x..x+7 of the row: source_coords' operations.
struct Coords8 {
  __m256 bx_half_w, half, r0, r3, byr1, byr4, r2, r5, one, fw, fh;
};

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

// The taps of pixels x..x+7 from their coordinates: bilinear_taps4's operations.
FT_AVX2 inline void taps8(const Taps& t, __m256 vix, __m256 viy, int x, int w, int h, int c) {
  const __m256 one = _mm256_set1_ps(1.0f), lo = _mm256_set1_ps(-2.0f);
  const __m256i wv = _mm256_set1_epi32(w), hv = _mm256_set1_epi32(h), cv = _mm256_set1_epi32(c);
  const __m256i onei = _mm256_set1_epi32(1);
  const __m256 fx = _mm256_floor_ps(vix), fy = _mm256_floor_ps(viy);
  const __m256 ax = _mm256_sub_ps(_mm256_add_ps(fx, one), vix), bx = _mm256_sub_ps(vix, fx);
  const __m256 ay = _mm256_sub_ps(_mm256_add_ps(fy, one), viy), by = _mm256_sub_ps(viy, fy);
  const __m256i x0 = _mm256_cvttps_epi32(
      _mm256_min_ps(_mm256_max_ps(fx, lo), _mm256_set1_ps(static_cast<float>(w))));
  const __m256i y0 = _mm256_cvttps_epi32(
      _mm256_min_ps(_mm256_max_ps(fy, lo), _mm256_set1_ps(static_cast<float>(h))));
  const __m256i x1 = _mm256_add_epi32(x0, onei), y1 = _mm256_add_epi32(y0, onei);
  const __m256i ix0 = inside8(x0, wv), ix1 = inside8(x1, wv);
  const __m256i iy0 = inside8(y0, hv), iy1 = inside8(y1, hv);
  const __m256i in[4] = {_mm256_and_si256(ix0, iy0), _mm256_and_si256(ix1, iy0),
                         _mm256_and_si256(ix0, iy1), _mm256_and_si256(ix1, iy1)};
  const __m256i base = _mm256_mullo_epi32(_mm256_add_epi32(_mm256_mullo_epi32(y0, wv), x0), cv);
  const __m256i step[4] = {_mm256_setzero_si256(), cv, _mm256_set1_epi32(w * c),
                           _mm256_set1_epi32(w * c + c)};
  const __m256 wk[4] = {_mm256_mul_ps(ax, ay), _mm256_mul_ps(bx, ay), _mm256_mul_ps(ax, by),
                        _mm256_mul_ps(bx, by)};
  __m256 mask = _mm256_setzero_ps();
  for (int k = 0; k < 4; ++k) {
    const __m256 wgt = _mm256_and_ps(_mm256_castsi256_ps(in[k]), wk[k]);  // +0 outside
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(t.off[k] + x),
                        _mm256_and_si256(in[k], _mm256_add_epi32(base, step[k])));
    _mm256_storeu_ps(t.wt[k] + x, wgt);
    mask = _mm256_add_ps(mask, wgt);
  }
  _mm256_storeu_ps(t.mask + x, mask);
}

// Pixels x..x+7 of the row (x + 8 <= w) as ints, two pixels per vector: RGBx of pixel x + 2j in
// lanes 0..3 of v[j], of pixel x + 2j + 1 in lanes 4..7; the scalar loop's sums per lane.
FT_AVX2 inline void rgbx8(__m256i* v, const float* src, const Taps& t, int x, bool has_fill,
                          bool zero_fill, __m256 fillv) {
  const __m256 one = _mm256_set1_ps(1.0f), top = _mm256_set1_ps(255.0f);
  __m256 wk[4];
  for (int k = 0; k < 4; ++k) wk[k] = _mm256_loadu_ps(t.wt[k] + x);
  const __m256 mask = _mm256_loadu_ps(t.mask + x);
  for (int j = 0; j < 4; ++j) {
    const int a = x + 2 * j;
    const __m256i pair =
        _mm256_setr_epi32(2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1);
    __m256 s = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      const __m256 p = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(src + t.off[k][a])),
                                            _mm_loadu_ps(src + t.off[k][a + 1]), 1);
      s = _mm256_add_ps(s, _mm256_mul_ps(p, _mm256_permutevar8x32_ps(wk[k], pair)));
    }
    if (has_fill) {
      const __m256 m = _mm256_permutevar8x32_ps(mask, pair);
      s = _mm256_mul_ps(s, m);
      // With fill 0, (1 - mask) * 0 is +-0, and adding it to s * mask >= +0 changes nothing.
      if (!zero_fill) s = _mm256_add_ps(s, _mm256_mul_ps(_mm256_sub_ps(one, m), fillv));
    }
    s = _mm256_round_ps(s, _MM_FROUND_CUR_DIRECTION);
    v[j] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(s, _mm256_setzero_ps()), top));
  }
}

// Stores rgbx8's 8 pixels as 24 bytes of u8 RGB.
FT_AVX2 inline void store_rgb8(std::uint8_t* out, const __m256i* v) {
  // Lane 0 of the bytes: pixels 0, 2, 4, 6 (RGBx each); lane 1: pixels 1, 3, 5, 7.
  const __m256i b =
      _mm256_packus_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
  const __m128i even = _mm256_castsi256_si128(b), odd = _mm256_extracti128_si256(b, 1);
  const __m128i drop_x = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  const __m128i lo = _mm_shuffle_epi8(_mm_unpacklo_epi32(even, odd), drop_x);  // pixels 0..3
  const __m128i hi = _mm_shuffle_epi8(_mm_unpackhi_epi32(even, odd), drop_x);  // pixels 4..7
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), lo);  // bytes 12..15 rewritten just below
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 12), hi);
  const std::int32_t tail = _mm_cvtsi128_si32(_mm_srli_si128(hi, 8));
  std::memcpy(out + 20, &tail, 4);
}

// One pixel x of the row from the RGBx floats: the same sums, one pixel per vector.
FT_AVX2 inline void rgbx1(std::uint8_t* out, const float* src, const Taps& t, int x, bool has_fill,
                          __m128 fillv) {
  __m128 s = _mm_setzero_ps();
  for (int k = 0; k < 4; ++k)
    s = _mm_add_ps(s, _mm_mul_ps(_mm_loadu_ps(src + t.off[k][x]), _mm_set1_ps(t.wt[k][x])));
  if (has_fill) {
    const __m128 m = _mm_set1_ps(t.mask[x]);
    s = _mm_add_ps(_mm_mul_ps(s, m), _mm_mul_ps(_mm_sub_ps(_mm_set1_ps(1.0f), m), fillv));
  }
  s = _mm_round_ps(s, _MM_FROUND_CUR_DIRECTION);
  s = _mm_min_ps(_mm_max_ps(s, _mm_setzero_ps()), _mm_set1_ps(255.0f));
  const __m128i i = _mm_cvttps_epi32(s);
  const std::int32_t px = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(i, i), i));
  std::memcpy(out + 3 * x, &px, 3);
}

}  // namespace

FT_AVX2 int bilinear_taps_avx2(const Taps& t, const float* rt, int y, int w, int h, int c) {
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  const float by = static_cast<float>(y) - fh * 0.5f + 0.5f;
  const Coords8 k{_mm256_set1_ps(fw * 0.5f), _mm256_set1_ps(0.5f),       _mm256_set1_ps(rt[0]),
                  _mm256_set1_ps(rt[3]),     _mm256_set1_ps(by * rt[1]), _mm256_set1_ps(by * rt[4]),
                  _mm256_set1_ps(rt[2]),     _mm256_set1_ps(rt[5]),      _mm256_set1_ps(1.0f),
                  _mm256_set1_ps(fw),        _mm256_set1_ps(fh)};
  int x = 0;
  for (; x + 8 <= w; x += 8) {
    __m256 ix, iy;
    coords8(k, x, ix, iy);
    taps8(t, ix, iy, x, w, h, c);
  }
  return x;
}

FT_AVX2 void rgb_to_rgbx(float* dst, const std::uint8_t* src, std::size_t pixels) {
  const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  std::size_t i = 0;
  for (; i + 3 <= pixels; i += 2) {  // an 8-byte load: two pixels and two bytes of the third
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + 3 * i));
    const __m256i v = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(b, spread));
    _mm256_storeu_ps(dst + 4 * i, _mm256_cvtepi32_ps(v));
  }
  for (; i < pixels; ++i)
    for (int ch = 0; ch < 4; ++ch) dst[4 * i + ch] = ch < 3 ? src[3 * i + ch] : 0.0f;
}

FT_AVX2 void bilinear_row_rgbx(std::uint8_t* out, const float* src, const Taps& t, int w,
                               bool has_fill, const float* fill) {
  const __m128 fill4 = has_fill ? _mm_setr_ps(fill[0], fill[1], fill[2], 0.0f) : _mm_setzero_ps();
  const __m256 fill8 = _mm256_set_m128(fill4, fill4);
  const bool zero_fill = !has_fill || (fill[0] == 0.0f && fill[1] == 0.0f && fill[2] == 0.0f);
  int x = 0;
  for (; x + 8 <= w; x += 8) {
    __m256i v[4];
    rgbx8(v, src, t, x, has_fill, zero_fill, fill8);
    store_rgb8(out + 3 * x, v);
  }
  for (; x < w; ++x) rgbx1(out, src, t, x, has_fill, fill4);
}

}  // namespace ft::aug

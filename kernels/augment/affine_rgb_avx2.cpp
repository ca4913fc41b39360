// The affine warp's bilinear RGB path in AVX2. The image is copied as float RGBx with a border of
// zero pixels, (h + 2) x (w + 2), so each output pixel's 2x2 source block lies inside the copy
// once its top-left corner is clamped to [-1, w - 1] x [-1, h - 1]: one offset per pixel, the four
// taps at fixed distances from it, each a 16-byte load. A corner outside the image has weight +0
// (weights8), so whatever it reads (border, or a pixel where the clamp moved the block) adds +0,
// as the scalar loop's offset-0 read does: the sums equal affine_pixel_c's bit for bit. Two
// pixels per vector; Zen 4's gathers were slower.
#include <cstring>

#include "kernels/augment/affine_avx2.hpp"
#include "kernels/augment/affine_rows.hpp"
#include "kernels/augment/cpu_isa.hpp"

namespace ft::aug {

namespace {

using namespace avx2;

// One row's taps: per pixel, the float offset of its 2x2 block in the bordered copy, the four
// weights (nw, ne, sw, se) and their sum. Sized to whole blocks of 8 pixels.
struct RgbTaps {
  int* off;
  float* wt[4];
  float* mask;
};

// u8 RGB -> float RGBx (x = 0) with the zero border; stride = 4 (w + 2) floats.
FT_AVX2 void bordered_rgbx(float* dst, const std::uint8_t* src, int h, int w, std::size_t stride) {
  const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  std::memset(dst, 0, stride * sizeof(float));
  std::memset(dst + (h + 1) * stride, 0, stride * sizeof(float));
  for (int y = 0; y < h; ++y) {
    float* d = dst + (y + 1) * stride;
    const std::uint8_t* s = src + static_cast<std::size_t>(y) * w * 3;
    _mm_storeu_ps(d, _mm_setzero_ps());
    _mm_storeu_ps(d + 4 * (w + 1), _mm_setzero_ps());
    d += 4;
    int i = 0;
    for (; i + 3 <= w; i += 2) {  // an 8-byte load: two pixels and two bytes of the third
      const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s + 3 * i));
      const __m256i v = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(b, spread));
      _mm256_storeu_ps(d + 4 * i, _mm256_cvtepi32_ps(v));
    }
    for (; i < w; ++i)
      for (int ch = 0; ch < 4; ++ch) d[4 * i + ch] = ch < 3 ? s[3 * i + ch] : 0.0f;
  }
}

// Taps of row y, 8 pixels at a time; the last block's lanes past w are computed (clamped, so
// in bounds) and never used.
FT_AVX2 void rgb_taps(const RgbTaps& t, const float* rt, int y, int w, int h) {
  const Coords8 k = row_coords(rt, y, w, h);
  const __m256i lo = _mm256_set1_epi32(-1), one = _mm256_set1_epi32(1);
  const __m256i hx = _mm256_set1_epi32(w - 1), hy = _mm256_set1_epi32(h - 1);
  const __m256i pw = _mm256_set1_epi32(w + 2);
  for (int x = 0; x < w; x += 8) {
    __m256 ix, iy;
    coords8(k, x, ix, iy);
    const Weights8 r = weights8(ix, iy, w, h);
    const __m256i cx = _mm256_min_epi32(_mm256_max_epi32(r.x0, lo), hx);
    const __m256i cy = _mm256_min_epi32(_mm256_max_epi32(r.y0, lo), hy);
    const __m256i px = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_add_epi32(cy, one), pw),
                                        _mm256_add_epi32(cx, one));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(t.off + x), _mm256_slli_epi32(px, 2));
    for (int c = 0; c < 4; ++c) _mm256_storeu_ps(t.wt[c] + x, r.wk[c]);
    _mm256_storeu_ps(t.mask + x, r.mask);
  }
}

// Pixels x..x+7 as ints, two per vector: RGBx of pixel x + 2j in lanes 0..3 of v[j], of pixel
// x + 2j + 1 in lanes 4..7; per lane the scalar loop's sum, fill blend, rounding and clamp.
FT_AVX2 inline void rgb8(__m256i* v, const float* src, std::size_t stride, const RgbTaps& t, int x,
                         bool has_fill, bool zero_fill, __m256 fillv) {
  const __m256 one = _mm256_set1_ps(1.0f), top = _mm256_set1_ps(255.0f);
  const std::size_t corner[4] = {0, 4, stride, stride + 4};
  __m256 wk[4];
  for (int k = 0; k < 4; ++k) wk[k] = _mm256_loadu_ps(t.wt[k] + x);
  const __m256 mask = _mm256_loadu_ps(t.mask + x);
  for (int j = 0; j < 4; ++j) {
    const float* p = src + t.off[x + 2 * j];
    const float* q = src + t.off[x + 2 * j + 1];
    const __m256i pair =
        _mm256_setr_epi32(2 * j, 2 * j, 2 * j, 2 * j, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1);
    __m256 s = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      const __m256 px = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + corner[k])),
                                             _mm_loadu_ps(q + corner[k]), 1);
      s = _mm256_add_ps(s, _mm256_mul_ps(px, _mm256_permutevar8x32_ps(wk[k], pair)));
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

// Stores rgb8's 8 pixels as 24 bytes of u8 RGB.
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

FT_AVX2 void rgb_row(std::uint8_t* out, const float* src, std::size_t stride, const RgbTaps& t,
                     int w, bool has_fill, const float* fill) {
  const __m128 fill4 = has_fill ? _mm_setr_ps(fill[0], fill[1], fill[2], 0.0f) : _mm_setzero_ps();
  const __m256 fill8 = _mm256_set_m128(fill4, fill4);
  const bool zero_fill = !has_fill || (fill[0] == 0.0f && fill[1] == 0.0f && fill[2] == 0.0f);
  for (int x = 0; x < w; x += 8) {
    __m256i v[4];
    rgb8(v, src, stride, t, x, has_fill, zero_fill, fill8);
    if (x + 8 <= w) {
      store_rgb8(out + 3 * x, v);
    } else {  // the row's last, partial block
      std::uint8_t px[24];
      store_rgb8(px, v);
      std::memcpy(out + 3 * x, px, 3 * static_cast<std::size_t>(w - x));
    }
  }
}

}  // namespace

void affine_bilinear_rgb_avx2(std::uint8_t* out, const std::uint8_t* in, int h, int w,
                              const float* rt, bool has_fill, const float* fill, AffineScratch& s) {
  const std::size_t stride = 4 * (static_cast<std::size_t>(w) + 2);
  float* src = grow(s.rgbx, stride * (static_cast<std::size_t>(h) + 2));
  bordered_rgbx(src, in, h, w, stride);
  const std::size_t n = (static_cast<std::size_t>(w) + 15) / 16 * 16;  // whole blocks of 8 or 16
  float* wt = grow(s.wt, 4 * n);
  const RgbTaps t{grow(s.off, n), {wt, wt + n, wt + 2 * n, wt + 3 * n}, grow(s.mask, n)};
  const bool avx512 = cpu_isa() >= CpuIsa::avx512;
  for (int y = 0; y < h; ++y) {
    if (avx512)
      rgb_taps_avx512(t.off, t.wt, t.mask, rt, y, w, h);
    else
      rgb_taps(t, rt, y, w, h);
    rgb_row(out + static_cast<std::size_t>(y) * w * 3, src, stride, t, w, has_fill, fill);
  }
}

}  // namespace ft::aug

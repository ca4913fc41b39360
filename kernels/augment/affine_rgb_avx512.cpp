// AVX-512 form of the bilinear RGB warp's taps (affine_rgb_avx2.cpp's rgb_taps, 16 pixels at a
// time): source_coords' and bilinear_taps4's float operations lane by lane, inside tests as
// unsigned compares into masks and the outside weights zeroed by masked multiplies (+0, as the
// AND with the inside mask gives). Only the taps: the rows stay AVX2, where Zen 4's 512-bit
// loads and shuffles gained nothing.
#include <immintrin.h>

#include "kernels/augment/affine_rows.hpp"

#define FT_AVX512 __attribute__((target("avx512f")))

namespace ft::aug {

FT_AVX512 void rgb_taps_avx512(int* off, float* const* wt, float* mask, const float* rt, int y,
                               int w, int h) {
  const float fw = static_cast<float>(w), fh = static_cast<float>(h);
  const float by = static_cast<float>(y) - fh * 0.5f + 0.5f;
  const __m512 half_w = _mm512_set1_ps(fw * 0.5f), half = _mm512_set1_ps(0.5f);
  const __m512 r0 = _mm512_set1_ps(rt[0]), r3 = _mm512_set1_ps(rt[3]);
  const __m512 byr1 = _mm512_set1_ps(by * rt[1]), byr4 = _mm512_set1_ps(by * rt[4]);
  const __m512 r2 = _mm512_set1_ps(rt[2]), r5 = _mm512_set1_ps(rt[5]);
  const __m512 one = _mm512_set1_ps(1.0f), vfw = _mm512_set1_ps(fw), vfh = _mm512_set1_ps(fh);
  const __m512 lo = _mm512_set1_ps(-2.0f);
  const __m512i wv = _mm512_set1_epi32(w), hv = _mm512_set1_epi32(h), onei = _mm512_set1_epi32(1);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (int x = 0; x < w; x += 16) {
    const __m512 bx = _mm512_add_ps(
        _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_set1_epi32(x), iota)), half_w),
        half);
    const __m512 gx = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(bx, r0), byr1), r2);
    const __m512 gy = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(bx, r3), byr4), r5);
    const __m512 ix =
        _mm512_mul_ps(_mm512_sub_ps(_mm512_mul_ps(_mm512_add_ps(gx, one), vfw), one), half);
    const __m512 iy =
        _mm512_mul_ps(_mm512_sub_ps(_mm512_mul_ps(_mm512_add_ps(gy, one), vfh), one), half);
    const __m512 fx = _mm512_roundscale_ps(ix, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 fy = _mm512_roundscale_ps(iy, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 ax = _mm512_sub_ps(_mm512_add_ps(fx, one), ix), bxw = _mm512_sub_ps(ix, fx);
    const __m512 ay = _mm512_sub_ps(_mm512_add_ps(fy, one), iy), byw = _mm512_sub_ps(iy, fy);
    const __m512i x0 = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(fx, lo), vfw));
    const __m512i y0 = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(fy, lo), vfh));
    // 0 <= v < n as one unsigned compare.
    const __mmask16 ix0 = _mm512_cmplt_epu32_mask(x0, wv);
    const __mmask16 ix1 = _mm512_cmplt_epu32_mask(_mm512_add_epi32(x0, onei), wv);
    const __mmask16 iy0 = _mm512_cmplt_epu32_mask(y0, hv);
    const __mmask16 iy1 = _mm512_cmplt_epu32_mask(_mm512_add_epi32(y0, onei), hv);
    const __m512 wk[4] = {
        _mm512_maskz_mul_ps(ix0 & iy0, ax, ay), _mm512_maskz_mul_ps(ix1 & iy0, bxw, ay),
        _mm512_maskz_mul_ps(ix0 & iy1, ax, byw), _mm512_maskz_mul_ps(ix1 & iy1, bxw, byw)};
    __m512 m = _mm512_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      m = _mm512_add_ps(m, wk[k]);
      _mm512_storeu_ps(wt[k] + x, wk[k]);
    }
    _mm512_storeu_ps(mask + x, m);
    // The 2x2 block's top-left corner clamped into the bordered copy, as a float offset.
    const __m512i cx =
        _mm512_min_epi32(_mm512_max_epi32(x0, _mm512_set1_epi32(-1)), _mm512_set1_epi32(w - 1));
    const __m512i cy =
        _mm512_min_epi32(_mm512_max_epi32(y0, _mm512_set1_epi32(-1)), _mm512_set1_epi32(h - 1));
    const __m512i px =
        _mm512_add_epi32(_mm512_mullo_epi32(_mm512_add_epi32(cy, onei), _mm512_set1_epi32(w + 2)),
                         _mm512_add_epi32(cx, onei));
    _mm512_storeu_si512(off + x, _mm512_slli_epi32(px, 2));
  }
}

}  // namespace ft::aug

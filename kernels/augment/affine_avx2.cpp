// AVX2 taps of the affine warp's bilinear rows (1 and 4 channels; RGB has its own path in
// affine_rgb_avx2.cpp): coordinates and taps 8 pixels at a time, bilinear_taps' layout. Compiled
// for AVX2 by function attribute only (the rest of the build stays x86-64-v2).
#include "kernels/augment/affine_avx2.hpp"

#include <immintrin.h>

#include "kernels/augment/affine_rows.hpp"

namespace ft::aug {

namespace {

using namespace avx2;

// The taps of pixels x..x+7 from their coordinates: bilinear_taps4's operations.
FT_AVX2 inline void taps8(const Taps& t, __m256 vix, __m256 viy, int x, int w, int h, int c) {
  const Weights8 r = weights8(vix, viy, w, h);
  const __m256i wv = _mm256_set1_epi32(w), cv = _mm256_set1_epi32(c);
  const __m256i base = _mm256_mullo_epi32(_mm256_add_epi32(_mm256_mullo_epi32(r.y0, wv), r.x0), cv);
  const __m256i step[4] = {_mm256_setzero_si256(), cv, _mm256_set1_epi32(w * c),
                           _mm256_set1_epi32(w * c + c)};
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(t.off[k] + x),
                        _mm256_and_si256(r.in[k], _mm256_add_epi32(base, step[k])));
    _mm256_storeu_ps(t.wt[k] + x, r.wk[k]);
  }
  _mm256_storeu_ps(t.mask + x, r.mask);
}

}  // namespace

FT_AVX2 int bilinear_taps_avx2(const Taps& t, const float* rt, int y, int w, int h, int c) {
  const Coords8 k = row_coords(rt, y, w, h);
  int x = 0;
  for (; x + 8 <= w; x += 8) {
    __m256 ix, iy;
    coords8(k, x, ix, iy);
    taps8(t, ix, iy, x, w, h, c);
  }
  return x;
}

}  // namespace ft::aug

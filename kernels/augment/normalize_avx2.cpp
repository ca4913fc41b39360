// AVX2 form of normalize to f32 for 1- and 3-channel images: 8 pixels at a time, the channels
// split by byte shuffles (mirrored in the same shuffle when an hflip is folded in), then
// normalize_value's operations ((x / 255 - mean) / std, correctly rounded divisions, no FMA) in
// vectors, so every value equals the table path's bit for bit.
#include <immintrin.h>

#include "kernels/augment/normalize_rows.hpp"

#define FT_AVX2 __attribute__((target("avx2")))

namespace ft::aug {

namespace {

// Byte i of pixel block j's shuffle: channel ch of pixel p (mirrored: of pixel 7 - p) taken from
// the 24 bytes held as lo (bytes 0..15) and hi (bytes 16..23); -1 (zero) where the other half has
// it.
struct Split3 {
  __m128i lo[3], hi[3];
};

Split3 make_split3(bool flip) {
  Split3 s;
  for (int ch = 0; ch < 3; ++ch) {
    alignas(16) signed char lo[16], hi[16];
    for (int p = 0; p < 16; ++p) lo[p] = hi[p] = -1;
    for (int p = 0; p < 8; ++p) {
      const int b = 3 * (flip ? 7 - p : p) + ch;
      if (b < 16)
        lo[p] = static_cast<signed char>(b);
      else
        hi[p] = static_cast<signed char>(b - 16);
    }
    s.lo[ch] = _mm_load_si128(reinterpret_cast<const __m128i*>(lo));
    s.hi[ch] = _mm_load_si128(reinterpret_cast<const __m128i*>(hi));
  }
  return s;
}

FT_AVX2 inline void store_normalized(float* out, __m128i bytes, __m256 mean, __m256 stdev) {
  const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
  const __m256 q =
      _mm256_div_ps(_mm256_sub_ps(_mm256_div_ps(v, _mm256_set1_ps(255.0f)), mean), stdev);
  _mm256_storeu_ps(out, q);
}

}  // namespace

// Pixels [0, 8 * floor(w / 8)) of every row; returns that width (the caller does the rest).
FT_AVX2 int normalize_f32_avx2(float* out, const std::uint8_t* in, int h, int w, int c,
                               const float* mean, const float* stdev, bool flip) {
  if (c != 1 && c != 3) return 0;
  const int n8 = w / 8 * 8;
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  __m256 m[3], s[3];
  for (int ch = 0; ch < c; ++ch) {
    m[ch] = _mm256_set1_ps(mean[ch]);
    s[ch] = _mm256_set1_ps(stdev[ch]);
  }
  const Split3 split = make_split3(flip);
  const __m128i reverse = _mm_setr_epi8(7, 6, 5, 4, 3, 2, 1, 0, -1, -1, -1, -1, -1, -1, -1, -1);
  for (int y = 0; y < h; ++y) {
    const std::uint8_t* row = in + static_cast<std::size_t>(y) * w * c;
    float* o = out + static_cast<std::size_t>(y) * w;
    for (int x = 0; x < n8; x += 8) {
      const int src = flip ? w - 8 - x : x;  // the block read; mirrored within by the shuffle
      const std::uint8_t* p = row + static_cast<std::size_t>(src) * c;
      if (c == 1) {
        __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        if (flip) b = _mm_shuffle_epi8(b, reverse);
        store_normalized(o + x, b, m[0], s[0]);
        continue;
      }
      // 24 bytes: 16 from p and the 8 after (no read past the row's 8 pixels).
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      const __m128i hi = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 16));
      for (int ch = 0; ch < 3; ++ch) {
        const __m128i b =
            _mm_or_si128(_mm_shuffle_epi8(lo, split.lo[ch]), _mm_shuffle_epi8(hi, split.hi[ch]));
        store_normalized(o + ch * plane + x, b, m[ch], s[ch]);
      }
    }
  }
  return n8;
}

}  // namespace ft::aug

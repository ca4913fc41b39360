// CPU-only forms of pixel.hpp's round_to_u8 / clamp_to_u8 for scalar hot loops: the same results
// for every non-NaN input, with the clamps as SSE max / min instructions. The compiler turns the
// portable forms' comparisons into branches, which mispredict on image data.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace ft::aug {

// rintf, then clamp to [0, 255], then the (exact) conversion: round_to_u8.
inline std::uint8_t round_to_u8_cpu(float x) {
  __m128 v = _mm_round_ss(_mm_setzero_ps(), _mm_set_ss(x), _MM_FROUND_CUR_DIRECTION);
  v = _mm_min_ss(_mm_max_ss(v, _mm_setzero_ps()), _mm_set_ss(255.0f));
  return static_cast<std::uint8_t>(_mm_cvttss_si32(v));
}
// Clamp to [0, 255], then truncate: clamp_to_u8.
inline std::uint8_t clamp_to_u8_cpu(float x) {
  const __m128 v = _mm_min_ss(_mm_max_ss(_mm_set_ss(x), _mm_setzero_ps()), _mm_set_ss(255.0f));
  return static_cast<std::uint8_t>(_mm_cvttss_si32(v));
}

}  // namespace ft::aug

// log and (cos, sin)(2 pi u) from IEEE basic operations only (+, -, *, /, sqrt, all correctly
// rounded on every target) and exact bit manipulation, FT_HD, so a random draw gives the same
// bits on the CPU and the GPU: glibc's and CUDA's logf / sinf / cosf differ in the last bits.
// Nothing here may call libm's transcendentals (tests/kernels/augment/no_libm_test.cpp). Every
// product feeding a sum goes through mul_rn, so the device never contracts it into an FMA
// whatever --fmad says; the host build has no FMA (-march=x86-64-v2).
#pragma once

#include <math.h>  // sqrtf, rintf (exact or correctly rounded)

#include <cstdint>
#include <cstring>

#include "kernels/hd.hpp"

namespace ft::rng {

// Correctly rounded a * b, a / b, sqrt(a); on the device the _rn intrinsics are never fused or
// approximated (not even under --use_fast_math).
FT_HD inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
FT_HD inline float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
FT_HD inline float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return sqrtf(a);
#endif
}

// Natural logarithm of a positive finite x (subnormals included), within 0.83 ulp of the exact
// value (tests/kernels/random/basic_math_test.cpp measures it). x = 2^k m with m in [sqrt(1/2),
// sqrt(2)) (exact, on the bits); with f = m - 1 (exact) and s = f / (2 + f), log m = 2 atanh(s) = f
// - f^2/2 + s (f^2/2 + R), where R = sum_{j>=1} 2 s^(2j) / (2j + 1): |s| <= 0.172, so five terms
// leave 2e-11 of |log m|. log 2 is split in two so that k * kLn2Hi is exact (kLn2Hi has 17
// significant bits).
FT_HD inline float log_basic(float x) {
  constexpr float kLn2Hi = 6.9313812256e-01f;  // 0x3f317180
  constexpr float kLn2Lo = 9.0580006145e-06f;  // log 2 - kLn2Hi, rounded
  constexpr float kR1 = 2.0f / 3, kR2 = 2.0f / 5, kR3 = 2.0f / 7, kR4 = 2.0f / 9, kR5 = 2.0f / 11;
  std::uint32_t ix;
  memcpy(&ix, &x, 4);
  int k = 0;
  if (ix < 0x00800000u) {  // subnormal: scale by 2^25 (exact)
    x = mul_rn(x, 33554432.0f);
    memcpy(&ix, &x, 4);
    k = -25;
  }
  // Adding 1 - sqrt(1/2) to the bits carries into the exponent exactly when m >= sqrt(2).
  ix += 0x3f800000u - 0x3f3504f3u;
  k += static_cast<int>(ix >> 23) - 127;
  ix = (ix & 0x007fffffu) + 0x3f3504f3u;
  float m;
  memcpy(&m, &ix, 4);
  const float f = m - 1.0f;
  const float s = div_rn(f, 2.0f + f);
  const float z = mul_rn(s, s);
  const float r =
      mul_rn(z, kR1 + mul_rn(z, kR2 + mul_rn(z, kR3 + mul_rn(z, kR4 + mul_rn(z, kR5)))));
  const float hfsq = mul_rn(mul_rn(0.5f, f), f);
  const float dk = static_cast<float>(k);
  return mul_rn(s, hfsq + r) + mul_rn(dk, kLn2Lo) - hfsq + f + mul_rn(dk, kLn2Hi);
}

// cos(2 pi u) and sin(2 pi u) for |u| < 2^22, each within 1.6 ulp of the exact value, zeros and
// ones exact. The reduction is exact on u itself: q = rint(4u), t = u - q / 4 (Sterbenz), so
// 2 pi u = q pi / 2 + 2 pi t with |2 pi t| <= pi / 4; then Taylor polynomials in t with the
// (2 pi)^n / n! folded into the coefficients (the first term left out is below 2^-30 of the
// result), 2 pi split in two so that its float rounding does not count.
FT_HD inline void cos_sin_2pi(float u, float& cos_out, float& sin_out) {
  constexpr float kS1 = 6.28318548f, kS1Lo = -1.7484556e-07f, kS3 = -41.341702240399755f,
                  kS5 = 81.60524927607504f, kS7 = -76.70585975306136f, kS9 = 42.058693944897634f,
                  kS11 = -15.094642576822984f;
  constexpr float kC2 = -19.739208802178716f, kC4 = 64.93939402266828f, kC6 = -85.45681720669371f,
                  kC8 = 60.24464137187664f, kC10 = -26.426256783374388f, kC12 = 7.903536371318465f;
  const float q = rintf(mul_rn(4.0f, u));
  const float t = u - mul_rn(0.25f, q);
  const float z = mul_rn(t, t);
  const float ps =
      mul_rn(z, kS3 + mul_rn(z, kS5 + mul_rn(z, kS7 + mul_rn(z, kS9 + mul_rn(z, kS11)))));
  const float sin_t = mul_rn(t, kS1) + mul_rn(t, kS1Lo + ps);
  const float pc =
      mul_rn(z, kC4 + mul_rn(z, kC6 + mul_rn(z, kC8 + mul_rn(z, kC10 + mul_rn(z, kC12)))));
  const float cos_t = 1.0f + mul_rn(z, kC2 + pc);
  switch (static_cast<int>(q) & 3) {  // two's complement: -1 & 3 == 3
    case 0:
      cos_out = cos_t;
      sin_out = sin_t;
      return;
    case 1:
      cos_out = -sin_t;
      sin_out = cos_t;
      return;
    case 2:
      cos_out = -cos_t;
      sin_out = -sin_t;
      return;
    default:
      cos_out = sin_t;
      sin_out = -cos_t;
      return;
  }
}

}  // namespace ft::rng

// random_erasing's N(0, 1) noise for a whole box on the CPU, four Philox blocks (eight values) at a
// time in SSE4.1 lanes: erase_noise_pair's operations (ops/random_erasing.hpp: Philox4x32-10, then
// Box-Muller with basic_math.hpp's log and cos / sin) lane by lane, in the same order, with the
// same constants, so every value is the same bits as the scalar function's (and the CUDA
// kernel's). The log skips basic_math's subnormal branch: its input here is at least 2^-24.
#include <smmintrin.h>  // SSE4.1, part of the x86-64-v2 baseline

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/random_erasing.hpp"

namespace ft::aug {

namespace {

using V = __m128;
using I = __m128i;

V mul(V a, V b) { return _mm_mul_ps(a, b); }
V add(V a, V b) { return _mm_add_ps(a, b); }
V sub(V a, V b) { return _mm_sub_ps(a, b); }
V set(float v) { return _mm_set1_ps(v); }
V neg(V a) { return _mm_xor_ps(a, _mm_set1_ps(-0.0f)); }

// rng::mulhilo32 on four lanes: the 64-bit products of lanes 0 / 2 and 1 / 3, split.
void mulhilo(I m, I a, I& hi, I& lo) {
  const I p02 = _mm_mul_epu32(a, m), p13 = _mm_mul_epu32(_mm_srli_epi64(a, 32), m);
  lo = _mm_blend_epi16(p02, _mm_slli_epi64(p13, 32), 0xCC);
  hi = _mm_blend_epi16(_mm_srli_epi64(p02, 32), p13, 0xCC);
}

// rng::philox4x32_10 on four counters that differ in word 0 only.
void philox(I c[4], std::uint32_t k0, std::uint32_t k1) {
  const I m0 = _mm_set1_epi32(static_cast<int>(0xD2511F53u));
  const I m1 = _mm_set1_epi32(static_cast<int>(0xCD9E8D57u));
  for (int round = 0; round < 10; ++round) {
    I hi0, lo0, hi1, lo1;
    mulhilo(m0, c[0], hi0, lo0);
    mulhilo(m1, c[2], hi1, lo1);
    const I n0 = _mm_xor_si128(_mm_xor_si128(hi1, c[1]), _mm_set1_epi32(static_cast<int>(k0)));
    const I n2 = _mm_xor_si128(_mm_xor_si128(hi0, c[3]), _mm_set1_epi32(static_cast<int>(k1)));
    c[0] = n0;
    c[1] = lo1;
    c[2] = n2;
    c[3] = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
}

// rng::log_basic for normal positive x.
V log_basic4(V x) {
  const float kLn2Hi = 6.9313812256e-01f, kLn2Lo = 9.0580006145e-06f;
  const float kR1 = 2.0f / 3, kR2 = 2.0f / 5, kR3 = 2.0f / 7, kR4 = 2.0f / 9, kR5 = 2.0f / 11;
  I ix = _mm_add_epi32(_mm_castps_si128(x), _mm_set1_epi32(0x3f800000 - 0x3f3504f3));
  const I k = _mm_sub_epi32(_mm_srli_epi32(ix, 23), _mm_set1_epi32(127));
  ix = _mm_add_epi32(_mm_and_si128(ix, _mm_set1_epi32(0x007fffff)), _mm_set1_epi32(0x3f3504f3));
  const V f = sub(_mm_castsi128_ps(ix), set(1.0f));
  const V s = _mm_div_ps(f, add(set(2.0f), f));
  const V z = mul(s, s);
  const V r = mul(
      z,
      add(set(kR1),
          mul(z, add(set(kR2), mul(z, add(set(kR3), mul(z, add(set(kR4), mul(z, set(kR5))))))))));
  const V hfsq = mul(mul(set(0.5f), f), f);
  const V dk = _mm_cvtepi32_ps(k);
  return add(add(sub(add(mul(s, add(hfsq, r)), mul(dk, set(kLn2Lo))), hfsq), f),
             mul(dk, set(kLn2Hi)));
}

// rng::cos_sin_2pi; the quadrant's case picks among +-cos_t and +-sin_t (exact negations).
void cos_sin_2pi4(V u, V& cos_out, V& sin_out) {
  const float kS1 = 6.28318548f, kS1Lo = -1.7484556e-07f, kS3 = -41.341702240399755f,
              kS5 = 81.60524927607504f, kS7 = -76.70585975306136f, kS9 = 42.058693944897634f,
              kS11 = -15.094642576822984f;
  const float kC2 = -19.739208802178716f, kC4 = 64.93939402266828f, kC6 = -85.45681720669371f,
              kC8 = 60.24464137187664f, kC10 = -26.426256783374388f, kC12 = 7.903536371318465f;
  const V q = _mm_round_ps(mul(set(4.0f), u), _MM_FROUND_CUR_DIRECTION);
  const V t = sub(u, mul(set(0.25f), q));
  const V z = mul(t, t);
  const V ps = mul(
      z,
      add(set(kS3),
          mul(z, add(set(kS5), mul(z, add(set(kS7), mul(z, add(set(kS9), mul(z, set(kS11))))))))));
  const V sin_t = add(mul(t, set(kS1)), mul(t, add(set(kS1Lo), ps)));
  const V pc = mul(
      z,
      add(set(kC4),
          mul(z, add(set(kC6), mul(z, add(set(kC8), mul(z, add(set(kC10), mul(z, set(kC12))))))))));
  const V cos_t = add(set(1.0f), mul(z, add(set(kC2), pc)));
  const I quad = _mm_and_si128(_mm_cvttps_epi32(q), _mm_set1_epi32(3));
  const V is1 = _mm_castsi128_ps(_mm_cmpeq_epi32(quad, _mm_set1_epi32(1)));
  const V is2 = _mm_castsi128_ps(_mm_cmpeq_epi32(quad, _mm_set1_epi32(2)));
  const V is3 = _mm_castsi128_ps(_mm_cmpeq_epi32(quad, _mm_set1_epi32(3)));
  V c = cos_t, s = sin_t;  // case 0
  c = _mm_blendv_ps(c, neg(sin_t), is1);
  s = _mm_blendv_ps(s, cos_t, is1);
  c = _mm_blendv_ps(c, neg(cos_t), is2);
  s = _mm_blendv_ps(s, neg(sin_t), is2);
  c = _mm_blendv_ps(c, sin_t, is3);
  s = _mm_blendv_ps(s, neg(cos_t), is3);
  cos_out = c;
  sin_out = s;
}

}  // namespace

void erase_noise_cpu(float* out, std::uint32_t n, std::uint64_t seed, std::uint32_t epoch,
                     std::uint64_t sample, std::uint32_t op) {
  const std::uint32_t hi_op = (static_cast<std::uint32_t>(sample >> 32) & 0xFFFFu) | (op << 16);
  const std::uint32_t k0 = static_cast<std::uint32_t>(seed),
                      k1 = static_cast<std::uint32_t>(seed >> 32);
  const std::uint32_t pairs = n / 2 + (n & 1u);
  std::uint32_t j = 0;
  for (; j + 4 <= pairs; j += 4) {
    const std::uint32_t b = 0x80000000u + j;
    I c[4] = {_mm_setr_epi32(static_cast<int>(b), static_cast<int>(b + 1), static_cast<int>(b + 2),
                             static_cast<int>(b + 3)),
              _mm_set1_epi32(static_cast<int>(epoch)),
              _mm_set1_epi32(static_cast<int>(static_cast<std::uint32_t>(sample))),
              _mm_set1_epi32(static_cast<int>(hi_op))};
    philox(c, k0, k1);
    const V scale = set(1.0f / 16777216.0f);
    const V u1 =
        mul(_mm_cvtepi32_ps(_mm_add_epi32(_mm_srli_epi32(c[0], 8), _mm_set1_epi32(1))), scale);
    const V u2 = mul(_mm_cvtepi32_ps(_mm_srli_epi32(c[1], 8)), scale);
    const V r = _mm_sqrt_ps(mul(set(-2.0f), log_basic4(u1)));
    V cs, sn;
    cos_sin_2pi4(u2, cs, sn);
    const V even = mul(r, cs), odd = mul(r, sn);
    if (2 * (j + 4) <= n) {
      _mm_storeu_ps(out + 2 * j, _mm_unpacklo_ps(even, odd));
      _mm_storeu_ps(out + 2 * j + 4, _mm_unpackhi_ps(even, odd));
    } else {  // the box's last value is an even one: store what fits
      alignas(16) float v[8];
      _mm_store_ps(v, _mm_unpacklo_ps(even, odd));
      _mm_store_ps(v + 4, _mm_unpackhi_ps(even, odd));
      for (std::uint32_t e = 2 * j; e < n; ++e) out[e] = v[e - 2 * j];
    }
  }
  for (; j < pairs; ++j) {
    float even, odd;
    erase_noise_pair(seed, epoch, sample, op, 2 * j, even, odd);
    out[2 * j] = even;
    if (2 * j + 1 < n) out[2 * j + 1] = odd;
  }
}

}  // namespace ft::aug

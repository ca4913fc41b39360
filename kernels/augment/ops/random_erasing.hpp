// random_erasing's functor: one element of the erased box of the float CHW image, the op's value
// or N(0, 1) noise from the op's own Philox blocks (random access, so any element alone).
#pragma once

#include <cstdint>

#include "kernels/augment/ops/functor.hpp"
#include "kernels/random/basic_math.hpp"
#include "kernels/random/philox.hpp"

namespace ft::aug {

// N(0, 1) noise for element e of sample's erased box: Box-Muller over one Philox block whose
// counter is the op's own (epoch, sample, op) with block index 2^31 + e / 2, far above any block
// the parameter draws use. Random access, so the CUDA kernel can compute any element alone.
// erase_noise_pair gives elements e & ~1 (r cos) and e | 1 (r sin) at once (the CPU loop's fast
// path). The log, cos and sin are basic_math.hpp's, not libm's or CUDA's, which differ in the
// last bits: CPU and CUDA noise are the same bits by construction.
FT_HD inline void erase_noise_pair(std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
                                   std::uint32_t op, std::uint32_t e, float& even, float& odd) {
  const std::uint32_t hi_op = (static_cast<std::uint32_t>(sample >> 32) & 0xFFFFu) | (op << 16);
  const rng::U32x4 b = rng::philox4x32_10(
      rng::U32x4{{0x80000000u + e / 2, epoch, static_cast<std::uint32_t>(sample), hi_op}},
      static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  const float u1 = static_cast<float>((b.v[0] >> 8) + 1) * (1.0f / 16777216.0f);  // (0, 1]
  const float u2 = static_cast<float>(b.v[1] >> 8) * (1.0f / 16777216.0f);        // [0, 1)
  const float r = rng::sqrt_rn(-2.0f * rng::log_basic(u1));
  float c, s;
  rng::cos_sin_2pi(u2, c, s);
  even = rng::mul_rn(r, c);
  odd = rng::mul_rn(r, s);
}
FT_HD inline float erase_noise(std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
                               std::uint32_t op, std::uint32_t e) {
  float even, odd;
  erase_noise_pair(seed, epoch, sample, op, e, even, odd);
  return (e & 1u) ? odd : even;
}

template <>
struct OpFunctor<OpKind::random_erasing> : FunctorBase {
  static constexpr Pass kPass = Pass::box;
  // Element e of sample i's (c, h, w) box (t.d.apply, e inside the box).
  FT_HD static void element(const cuda::Step& s, const cuda::Task& t, std::size_t i, long e) {
    int ch, y, x;
    box_coords(e, t.d.h, t.d.w, ch, y, x);
    const float v = s.op.random_value ? erase_noise(s.seed, s.epoch, s.ids[i], s.op_index,
                                                    static_cast<std::uint32_t>(e))
                                      : s.op.fill_for(ch);
    const std::size_t at = t.out_off + chw_offset(t.out, ch, t.d.top + y, t.d.left + x);
    if (s.bf16)
      store_value(s.out_bf16 + at, v);
    else
      store_value(s.out_f32 + at, v);
  }
};

}  // namespace ft::aug

// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, the same arithmetic on host and device. Every random draw in flowtrain
// is philox(key = run seed, counter = (epoch, sample id, op index, draw index)), so results do not
// depend on thread count or scheduling, and CPU and CUDA augmentation draw identical parameters.
#pragma once

#include <cstdint>

#include "kernels/hd.hpp"

namespace ft::rng {

struct U32x4 {
  std::uint32_t v[4];
};

FT_HD inline void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi,
                            std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

// The raw block function: 10 rounds over a 128-bit counter with a 64-bit key.
FT_HD inline U32x4 philox4x32_10(U32x4 ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(kM0, ctr.v[0], hi0, lo0);
    mulhilo32(kM1, ctr.v[2], hi1, lo1);
    ctr = U32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// A stream of draws for one (seed, epoch, sample, op). Each call to next_u32() consumes one word;
// the block counter advances every four words. Cheap to construct: create one per sample per op.
class Philox {
 public:
  FT_HD Philox(std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample, std::uint32_t op)
      : k0_(static_cast<std::uint32_t>(seed)),
        k1_(static_cast<std::uint32_t>(seed >> 32)),
        epoch_(epoch),
        sample_lo_(static_cast<std::uint32_t>(sample)),
        // The op index shares a word with the high bits of the sample id (ids < 2^48).
        sample_hi_op_((static_cast<std::uint32_t>(sample >> 32) & 0xFFFFu) | (op << 16)) {}

  FT_HD std::uint32_t next_u32() {
    if (used_ == 4) {
      block_ = philox4x32_10(U32x4{{block_index_++, epoch_, sample_lo_, sample_hi_op_}}, k0_, k1_);
      used_ = 0;
    }
    return block_.v[used_++];
  }
  // Uniform in [0, 1) with 24 random bits: exactly representable in f32, identical everywhere.
  FT_HD float uniform() { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }
  // Uniform in [lo, hi).
  FT_HD float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n) (n > 0), by multiply-shift: bias below 2^-32 * n.
  FT_HD std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(next_u32()) * n) >> 32);
  }
  FT_HD bool bernoulli(float p) { return uniform() < p; }

 private:
  std::uint32_t k0_, k1_, epoch_, sample_lo_, sample_hi_op_;
  std::uint32_t block_index_ = 0;
  U32x4 block_{{0, 0, 0, 0}};
  int used_ = 4;
};

}  // namespace ft::rng

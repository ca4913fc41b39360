// bf16 storage for the CPU layers' own loops: the upper 16 bits of an IEEE f32. Activations in
// bf16 travel through the Module interface as `const float*` (module.hpp); a loop reads and
// writes them through Bf16, a may_alias type, so the compiler assumes nothing from the pointer's
// declared type. Rounding is to nearest, ties to even (oneDNN's and PyTorch's rule).
#pragma once

#include <bit>
#include <cstdint>

namespace ft::nn::cpu {

struct __attribute__((may_alias)) Bf16 {
  std::uint16_t bits;
};

inline float bf16_to_f32(Bf16 b) { return std::bit_cast<float>(std::uint32_t{b.bits} << 16); }

inline Bf16 f32_to_bf16(float f) {
  const auto u = std::bit_cast<std::uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return {static_cast<std::uint16_t>((u >> 16) | 0x40u)};
  return {static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16)};
}

inline const Bf16* as_bf16(const float* p) { return reinterpret_cast<const Bf16*>(p); }
inline Bf16* as_bf16(float* p) { return reinterpret_cast<Bf16*>(p); }

// b > 0 as f32 compares: from the smallest positive denormal up to +inf (NaN and -0 are not).
inline bool bf16_positive(Bf16 b) { return b.bits >= 1u && b.bits <= 0x7f80u; }

}  // namespace ft::nn::cpu

// bf16 storage for the CPU layers' own loops: the upper 16 bits of an IEEE f32. Activations in
// bf16 travel through the Module interface as `const float*` (module.hpp); a loop reads and
// writes them through Bf16, a may_alias type, so the compiler assumes nothing from the pointer's
// declared type. The rounding is the images' (kernels/bf16_bits.hpp: to nearest, ties to even,
// NaN -> 0x7FC0, as torch rounds), applied to the bits so that GCC vectorises the loops.
#pragma once

#include <bit>
#include <cstdint>

#include "kernels/bf16_bits.hpp"
#include "kernels/nn/module.hpp"

namespace ft::nn::cpu {

struct __attribute__((may_alias)) Bf16 {
  std::uint16_t bits;
};

// Conversions of the bits (not of Bf16 values: GCC vectorised loops over the bits, not over
// copies of the struct), rounded as the images are (kernels/bf16_bits.hpp).
using ft::bf16_to_f32;
using ft::f32_to_bf16;

inline const Bf16* as_bf16(const float* p) { return reinterpret_cast<const Bf16*>(p); }
inline Bf16* as_bf16(float* p) { return reinterpret_cast<Bf16*>(p); }

// b > 0 as f32 compares: from the smallest positive denormal up to +inf (NaN and -0 are not).
// One unsigned 16-bit compare (0 wraps to 0xffff).
inline bool bf16_positive(std::uint16_t b) {
  return static_cast<std::uint16_t>(b - 1u) < std::uint16_t{0x7f80u};
}

// Loops generic over the element type T (float or Bf16): read as f32, store rounded, compare.
// x where m > 0, else +0 (ReLU's backward), on raw() values: an AND with an all-ones or zero
// mask, which GCC vectorises (it left a select scalar, f32 and bf16: 10 ms a resnet18 step).
inline float masked(float m, float x) {
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(x) & (m > 0.f ? ~0u : 0u));
}
inline std::uint16_t masked(std::uint16_t m, std::uint16_t x) {
  return x & (bf16_positive(m) ? std::uint16_t{0xffffu} : std::uint16_t{0});
}
inline float to_f32(float v) { return v; }
inline float to_f32(Bf16 v) { return bf16_to_f32(v.bits); }
inline void store(float& y, float v) { y = v; }
inline void store(Bf16& y, float v) { y.bits = f32_to_bf16(v); }
// The scalar a value is held in (loops over it vectorise; over copies of Bf16 they did not).
inline float& raw(float& v) { return v; }
inline float raw(const float& v) { return v; }
inline std::uint16_t& raw(Bf16& v) { return v.bits; }
inline std::uint16_t raw(const Bf16& v) { return v.bits; }

// f(as T*) for the tensor type: f is called with a null T* to pick the type.
template <class F>
void with_type(DataType dtype, F f) {
  if (dtype == DataType::bf16)
    f(static_cast<Bf16*>(nullptr));
  else
    f(static_cast<float*>(nullptr));
}

template <class T>
const T* typed(const float* p) {
  return reinterpret_cast<const T*>(p);
}
template <class T>
T* typed(float* p) {
  return reinterpret_cast<T*>(p);
}

}  // namespace ft::nn::cpu

// bfloat16 as its 16 bits (the upper half of an IEEE f32), for the CPU loops and the CUDA kernels
// alike: the float <-> bits moves, the rounding torch's .to(torch.bfloat16) does (to nearest,
// ties to even; NaN -> the quiet NaN 0x7FC0) and the exact widening back. The augmentation ops
// (bf16 images) and the CPU layers (bf16 activations) use this one rounding. It is written
// without a branch, a select on the bits, so that GCC vectorises the loops around it: the bf16
// residual join with ReLU over 16.8M elements (2 threads) took 16.1 ms with a branch on NaN
// applied to copies of a 16-bit struct, 5.6 ms this way (f32: 6.6 ms). The GPU's bf16 layers
// round as oneDNN's reorders do instead (subnormals to zero): kernels/nn/cuda/bf16_math.hpp.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/hd.hpp"

namespace ft {

FT_HD inline std::uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

FT_HD inline float float_of_bits(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

FT_HD inline std::uint16_t f32_to_bf16(float v) {
  const std::uint32_t u = float_bits(v);
  const std::uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return static_cast<std::uint16_t>((u & 0x7FFFFFFFu) > 0x7F800000u ? 0x7FC0u : rounded);
}

// Exact: every bf16 value is a float.
FT_HD inline float bf16_to_f32(std::uint16_t b) {
  return float_of_bits(static_cast<std::uint32_t>(b) << 16);
}

}  // namespace ft

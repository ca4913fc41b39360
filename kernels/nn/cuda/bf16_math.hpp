// The per-element arithmetic of Precision::bf16 on the GPU, shared by the CUDA kernels
// (bf16_kernels.cuh) and host tests: f32 -> bfloat16 rounding exactly as the CPU path's oneDNN
// reorders round (so both devices feed the same bf16 values to their convolutions) and the NCHW
// <-> NHWC offsets cuDNN's tensor-core layouts need; the widening back is ft::bf16_to_f32
// (kernels/bf16_bits.hpp). bf16 values travel as their 16 bits (std::uint16_t): cuDNN and cuBLAS
// take untyped pointers.
#pragma once

#include <cstdint>

#include "kernels/bf16_bits.hpp"
#include "kernels/hd.hpp"

namespace ft::nn::cuda {

// x rounded to bfloat16 as oneDNN 2.6 rounds it on the CPU (AVX-512 BF16's vcvtneps2bf16, and
// oneDNN's reference conversion alike): to nearest, ties to even; a value past the largest bf16
// becomes infinity; a subnormal becomes a zero of its sign (oneDNN treats subnormal inputs as
// zero; CUDA's __float2bfloat16_rn would keep them); infinities stay; a NaN stays a NaN with its
// sign and top payload bits, made quiet (a payload only in the low 16 bits would otherwise read
// as infinity).
FT_HD inline std::uint16_t bf16_from_float(float x) {
  const std::uint32_t u = float_bits(x);
  const std::uint32_t exponent = u & 0x7F800000u;
  if (exponent == 0x7F800000u)
    return static_cast<std::uint16_t>((u & 0x007FFFFFu) ? (u >> 16) | 0x0040u : u >> 16);
  if (exponent == 0) return static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// Offsets of element (n, c, p) of an (N, C, H, W) tensor, p = h * W + w the position in the
// plane of hw = H * W: NCHW (PyTorch's, every layer's edge) and NHWC (cuDNN's bf16 tensor-op
// layout). A filter (K, C/groups, R, S) is the same with n = k: KCRS and KRSC.
FT_HD inline std::int64_t nchw_offset(std::int64_t n, int c, int p, int channels, int hw) {
  return (n * channels + c) * hw + p;
}
FT_HD inline std::int64_t nhwc_offset(std::int64_t n, int c, int p, int channels, int hw) {
  return (n * hw + p) * channels + c;
}

// The square tiles a batch of (rows, cols) matrices is transposed in: tile t of the grid-stride
// loop is matrix `batch`, rows [row0, row0 + kTransposeTile), cols [col0, col0 + kTransposeTile),
// the last tile of a row or column clipped to the matrix.
inline constexpr int kTransposeTile = 32;
struct TransposeTile {
  std::int64_t batch;
  int row0, col0;
};
FT_HD inline std::int64_t transpose_tile_count(std::int64_t batches, int rows, int cols) {
  const std::int64_t tr = (rows + kTransposeTile - 1) / kTransposeTile,
                     tc = (cols + kTransposeTile - 1) / kTransposeTile;
  return batches * tr * tc;
}
FT_HD inline TransposeTile transpose_tile(std::int64_t t, int rows, int cols) {
  const std::int64_t tr = (rows + kTransposeTile - 1) / kTransposeTile,
                     tc = (cols + kTransposeTile - 1) / kTransposeTile;
  return {t / (tr * tc), static_cast<int>(t / tc % tr) * kTransposeTile,
          static_cast<int>(t % tc) * kTransposeTile};
}

}  // namespace ft::nn::cuda

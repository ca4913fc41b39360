// The conversions at the edges of a bf16 convolution or matmul on the GPU (bf16.cu launches
// them): f32 NCHW activations and KCRS filters to bf16 NHWC / KRSC for cuDNN's tensor-op kernels,
// cuDNN's bf16 results back to f32 NCHW / KCRS (assigned, or added for weight gradients), and a
// plain rounding for cuBLAS's operands. Per element they are bf16_math.hpp's functions, so the
// GPU rounds as the CPU path does; tests/kernels/nn/cuda_bf16_emulation_test.cpp runs them as host
// code against oneDNN's reorders. Static for the reason kernels.cuh gives; this header stands alone
// (kernels.cuh's unused kernels would warn in the host test).
#pragma once

#include <cstdint>

#include "kernels/nn/cuda/bf16_math.hpp"

namespace ft::nn::cuda {

struct RoundToBf16 {
  FT_HD void operator()(std::uint16_t& dst, float src) const { dst = bf16_from_float(src); }
};
struct WidenBf16 {
  bool accumulate;  // dst += the value (a weight gradient), else dst = it
  FT_HD void operator()(float& dst, std::uint16_t src) const {
    dst = accumulate ? dst + bf16_to_f32(src) : bf16_to_f32(src);
  }
};

// dst = convert(src) between layouts of `batches` planes of (channels, hw): kToNhwc reads NCHW
// and writes NHWC, otherwise the reverse. Tiles of 32 channels x 32 positions go through shared
// memory, so that reads run along src's contiguous axis and writes along dst's. Launch with
// blockDim (32, 8) on the device; any blockDim covers the tile (the host emulation uses one
// thread), any grid covers every tile.
template <bool kToNhwc, class Src, class Dst, class Convert>
static __global__ void relayout_planes(Dst* dst, const Src* src, std::int64_t batches, int channels,
                                       int hw, Convert convert) {
  constexpr int kT = kTransposeTile;
  __shared__ Src tile[kT][kT + 1];  // [channel][position]
  const std::int64_t tiles = transpose_tile_count(batches, channels, hw);
  for (std::int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const TransposeTile g = transpose_tile(t, channels, hw);
    for (int a = static_cast<int>(threadIdx.y); a < kT; a += static_cast<int>(blockDim.y))
      for (int b = static_cast<int>(threadIdx.x); b < kT; b += static_cast<int>(blockDim.x)) {
        const int c = kToNhwc ? a : b, p = kToNhwc ? b : a;  // b: along src's contiguous axis
        const int ch = g.row0 + c, pos = g.col0 + p;
        if (ch < channels && pos < hw)
          tile[c][p] = src[kToNhwc ? nchw_offset(g.batch, ch, pos, channels, hw)
                                   : nhwc_offset(g.batch, ch, pos, channels, hw)];
      }
    __syncthreads();
    for (int a = static_cast<int>(threadIdx.y); a < kT; a += static_cast<int>(blockDim.y))
      for (int b = static_cast<int>(threadIdx.x); b < kT; b += static_cast<int>(blockDim.x)) {
        const int c = kToNhwc ? b : a, p = kToNhwc ? a : b;  // b: along dst's contiguous axis
        const int ch = g.row0 + c, pos = g.col0 + p;
        if (ch < channels && pos < hw)
          convert(dst[kToNhwc ? nhwc_offset(g.batch, ch, pos, channels, hw)
                              : nchw_offset(g.batch, ch, pos, channels, hw)],
                  tile[c][p]);
      }
    __syncthreads();  // the tile is refilled for the next t
  }
}

// y = x rounded to bf16, element by element (cuBLAS's operands, and cuDNN's where they stay NCHW).
static __global__ void round_to_bf16(std::uint16_t* y, const float* x, std::int64_t n) {
  const std::int64_t step = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step)
    y[i] = bf16_from_float(x[i]);
}

// y = (or, accumulate, +=) x widened, element by element.
static __global__ void widen_bf16(float* y, const std::uint16_t* x, std::int64_t n,
                                  WidenBf16 widen) {
  const std::int64_t step = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += step)
    widen(y[i], x[i]);
}

}  // namespace ft::nn::cuda

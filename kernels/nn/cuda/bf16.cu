// The launchers of the bf16 conversions (bf16_kernels.cuh) the bf16 convolutions and matmuls run
// at their edges, and the scratch they share. Memory-bound: each reads 4 and writes 2 bytes per
// value (or the reverse), next to the convolution's own pass over the same tensors.
#include <algorithm>

#include "kernels/nn/cuda/bf16_kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"

namespace ft::nn::cuda {
namespace {

// One block per 32 x 32 tile (32 x 8 threads, 4 values each), up to a grid-stride cap.
unsigned tile_blocks(std::int64_t batches, int channels, int hw) {
  return static_cast<unsigned>(
      std::clamp<std::int64_t>(transpose_tile_count(batches, channels, hw), 1, 65535));
}
const dim3 kTileThreads(kTransposeTile, 8);

}  // namespace

void to_bf16_nhwc(std::uint16_t* dst, const float* src, std::int64_t batches, int channels,
                  int hw) {
  relayout_planes<true><<<tile_blocks(batches, channels, hw), kTileThreads, 0, runtime().stream>>>(
      dst, src, batches, channels, hw, RoundToBf16{});
  check_launch("relayout_planes (f32 NCHW -> bf16 NHWC)");
}

void from_bf16_nhwc(float* dst, const std::uint16_t* src, std::int64_t batches, int channels,
                    int hw, bool accumulate) {
  relayout_planes<false><<<tile_blocks(batches, channels, hw), kTileThreads, 0, runtime().stream>>>(
      dst, src, batches, channels, hw, WidenBf16{accumulate});
  check_launch("relayout_planes (bf16 NHWC -> f32 NCHW)");
}

void to_bf16(std::uint16_t* dst, const float* src, std::int64_t n) {
  round_to_bf16<<<blocks_for(n), kThreads, 0, runtime().stream>>>(dst, src, n);
  check_launch("round_to_bf16");
}

void from_bf16(float* dst, const std::uint16_t* src, std::int64_t n, bool accumulate) {
  widen_bf16<<<blocks_for(n), kThreads, 0, runtime().stream>>>(dst, src, n, WidenBf16{accumulate});
  check_launch("widen_bf16");
}

std::uint16_t* bf16_scratch(int slot, std::int64_t n) {
  Bf16Array& a = runtime().bf16_scratch[slot];
  a.resize(static_cast<std::size_t>(n));
  return a.data();
}

}  // namespace ft::nn::cuda

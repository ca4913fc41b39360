// The order in which reductions.cuh's channel sums add, written as a plain sequential loop: per
// run of a channel, thread t's strided float sum, the pairwise tree over the block's threads, then
// the runs in order. The kernels must equal it bit for bit whatever the thread timing (the
// emulated suite and, on a device, the GPU suite check that).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "kernels/nn/cuda/reduction_plan.hpp"

namespace ft::nn::test {

// m: (n, channels, hw) floats; returns each channel's sum.
inline std::vector<float> channel_sums_in_kernel_order(const std::vector<float>& m, int n,
                                                       int channels, std::int64_t hw,
                                                       const cuda::ChannelSumsPlan& plan,
                                                       unsigned threads) {
  std::vector<float> out(static_cast<std::size_t>(channels), 0.f);
  const std::int64_t per_channel = n * hw;
  for (int c = 0; c < channels; ++c) {
    float total = 0.f;
    for (unsigned k = 0; k < plan.chunks; ++k) {
      std::vector<float> acc(threads, 0.f);
      const std::int64_t begin = k * plan.chunk, end = std::min(begin + plan.chunk, per_channel);
      for (unsigned t = 0; t < threads; ++t)
        for (std::int64_t e = begin + t; e < end; e += threads)
          acc[t] += m[static_cast<std::size_t>((e / hw * channels + c) * hw + e % hw)];
      for (unsigned s = threads / 2; s > 0; s >>= 1)
        for (unsigned t = 0; t < s; ++t) acc[t] += acc[t + s];
      total += acc[0];
    }
    out[static_cast<std::size_t>(c)] = total;
  }
  return out;
}

}  // namespace ft::nn::test

// How the reductions of reductions.cuh split their work, in plain C++ (host code builds the plans,
// kernels and tests read them). A plan depends only on sizes, never on timing, which is what keeps
// those reductions deterministic run to run.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace ft::nn::cuda {

// Threads per block of every reduction kernel: a power of two (their trees halve it).
inline constexpr unsigned kReduceThreads = 256;

// ---- multi-tensor work (gradient norm, clipping scale) ----------------------------------------

// At most `n` consecutive floats of one tensor: one work item of a multi-tensor launch.
struct TensorChunk {
  float* data = nullptr;
  std::int64_t n = 0;
};

// Every tensor cut into chunks of at most `chunk` floats, tensors and chunks in order; empty
// tensors give none. 64K floats keeps a block busy for a few microseconds and the table small
// (~400 entries for ResNet-50's 25.6M parameters).
inline constexpr std::int64_t kTensorChunk = 65536;
inline std::vector<TensorChunk> split_into_chunks(
    const std::vector<std::pair<float*, std::int64_t>>& tensors,
    std::int64_t chunk = kTensorChunk) {
  if (chunk <= 0) throw std::invalid_argument("split_into_chunks: chunk must be > 0");
  std::vector<TensorChunk> out;
  for (const auto& [data, n] : tensors)
    for (std::int64_t i = 0; i < n; i += chunk)
      out.push_back({data + i, n - i < chunk ? n - i : chunk});
  return out;
}

// Blocks of a multi-tensor launch over `chunks` items: one per item up to `max_blocks` (then each
// block takes every max_blocks-th item). 512 fills any current GPU twice over.
inline constexpr unsigned kMultiTensorBlocks = 512;
inline unsigned multi_tensor_blocks(std::size_t chunks, unsigned max_blocks = kMultiTensorBlocks) {
  return chunks < max_blocks ? static_cast<unsigned>(chunks) : max_blocks;
}

// ---- per-channel sums of an NCHW tensor (the convolution bias gradient) -------------------------

// Channel c's n * hw values (sample by sample, each plane in order) are cut into `chunks` runs of
// `chunk` values (the last may be shorter); block (k, c) of the first stage sums run k.
struct ChannelSumsPlan {
  std::int64_t chunk = 0;
  unsigned chunks = 0;
};

// Chunks sized for about `target_blocks` blocks over all channels (enough to fill a GPU), at
// least `min_chunk` values each (a few per thread) and a multiple of kReduceThreads.
inline constexpr std::int64_t kChannelSumsBlocks = 1024, kChannelSumsMinChunk = 1024;
inline ChannelSumsPlan plan_channel_sums(std::int64_t per_channel, int channels,
                                         std::int64_t target_blocks = kChannelSumsBlocks,
                                         std::int64_t min_chunk = kChannelSumsMinChunk) {
  if (per_channel <= 0 || channels <= 0 || channels > 65535 || target_blocks <= 0 || min_chunk <= 0)
    throw std::invalid_argument("plan_channel_sums: bad sizes (channels must be in 1..65535)");
  const std::int64_t total = per_channel * channels;
  std::int64_t chunk = (total + target_blocks - 1) / target_blocks;
  if (chunk < min_chunk) chunk = min_chunk;
  chunk = (chunk + kReduceThreads - 1) / kReduceThreads * kReduceThreads;
  if (chunk > per_channel) chunk = per_channel;
  return {chunk, static_cast<unsigned>((per_channel + chunk - 1) / chunk)};
}

}  // namespace ft::nn::cuda

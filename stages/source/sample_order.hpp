// The order in which a pass visits a dataset's samples, for the source stages: none (dataset
// order), global (read_files' per-epoch permutation: epoch_order) or window (shards in a shuffled
// order, then a shuffle buffer of `window` samples, as WebDataset shuffles data larger than
// memory: reads stay within a few shards at a time). Each is a pure function of (seed, epoch).
#pragma once

#include <cstdint>
#include <vector>

#include "stages/source/dataset.hpp"

namespace ft {

enum class ShuffleMode { none, global, window };

struct OrderSpec {
  ShuffleMode mode = ShuffleMode::none;
  std::size_t window = 0;  // samples in the shuffle buffer (mode window)
};

// Philox op index of the window shuffle (read_files' global shuffle is kShuffleOp = 0xA0).
inline constexpr std::uint32_t kWindowShuffleOp = 0xA2;

// The pass order of data under spec.
std::vector<std::uint32_t> sample_order(const Dataset& data, const OrderSpec& spec,
                                        std::uint64_t seed, int epoch);

// groups: sizes of consecutive runs of samples (one run per shard, in dataset order). The runs
// are visited in a shuffled order; a buffer of `window` samples is filled from them, and each
// next sample comes from a random slot of the buffer, refilled with the next sample read.
std::vector<std::uint32_t> window_order(const std::vector<std::size_t>& groups, std::size_t window,
                                        std::uint64_t seed, int epoch);

}  // namespace ft

// Which samples a pass visits, in which order, and which of them this process takes: the epoch
// order (a pure function of seed and epoch), then PyTorch DistributedSampler's slicing when the
// run has several processes (every process draws the same order, padded to a multiple of the
// process count by repeating its head or cut to one with drop_tail, and process r takes every
// N-th position from r). Process r's batch i of b/N samples and the other processes' batch i
// together hold exactly the single process's batch i of b (padding aside), which is what makes a
// global batch mean the same on any number of processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ft {

// Philox op index of the per-epoch shuffle.
inline constexpr std::uint32_t kShuffleOp = 0xA0;

// The order in which a pass visits the n samples: identity, or Fisher-Yates driven by
// Philox(seed, epoch, 0, kShuffleOp).
std::vector<std::uint32_t> epoch_order(std::size_t n, bool shuffle, std::uint64_t seed, int epoch);
// Batches in a pass of n samples (drop_last drops a final partial batch).
std::size_t batch_count(std::size_t n, std::size_t batch_size, bool drop_last);

// One process's share of an epoch order.
struct RankShare {
  std::vector<std::uint32_t> order;  // sample indices, in visiting order
  std::size_t padded = 0;            // the last `padded` entries repeat the order's head
};

// DistributedSampler's slicing of `order` for process `rank` of `world`. drop_tail: cut the
// order to a multiple of world instead of padding it (PyTorch's drop_last of the sampler).
RankShare rank_share(const std::vector<std::uint32_t>& order, int rank, int world, bool drop_tail);

}  // namespace ft

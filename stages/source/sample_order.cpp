// Pass orders: the global one is read_files' epoch_order, so a run from shards and a run from the
// same files visit the same samples in the same order; the window one is WebDataset's buffer
// shuffle over shards taken in a shuffled order.
#include "stages/source/sample_order.hpp"

#include <algorithm>

#include "kernels/random/philox.hpp"
#include "stages/source/sampler.hpp"

namespace ft {

std::vector<std::uint32_t> window_order(const std::vector<std::size_t>& groups, std::size_t window,
                                        std::uint64_t seed, int epoch) {
  std::vector<std::size_t> start(groups.size());
  std::size_t n = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) start[g] = n, n += groups[g];
  rng::Philox rng(seed, static_cast<std::uint32_t>(epoch), 0, kWindowShuffleOp);
  std::vector<std::uint32_t> visit(groups.size());
  for (std::size_t g = 0; g < visit.size(); ++g) visit[g] = static_cast<std::uint32_t>(g);
  for (std::size_t i = visit.size(); i > 1; --i)
    std::swap(visit[i - 1], visit[rng.below(static_cast<std::uint32_t>(i))]);

  std::vector<std::uint32_t> out, buffer;
  out.reserve(n);
  buffer.reserve(std::max<std::size_t>(window, 1));
  const auto take = [&] {
    const std::uint32_t slot = rng.below(static_cast<std::uint32_t>(buffer.size()));
    out.push_back(buffer[slot]);
    buffer[slot] = buffer.back();
    buffer.pop_back();
  };
  for (std::uint32_t g : visit)
    for (std::size_t i = 0; i < groups[g]; ++i) {
      buffer.push_back(static_cast<std::uint32_t>(start[g] + i));
      if (buffer.size() > window) take();
    }
  while (!buffer.empty()) take();
  return out;
}

std::vector<std::uint32_t> sample_order(const Dataset& data, const OrderSpec& spec,
                                        std::uint64_t seed, int epoch) {
  if (spec.mode != ShuffleMode::window)
    return epoch_order(data.size(), spec.mode == ShuffleMode::global, seed, epoch);
  std::vector<std::size_t> groups;
  for (std::size_t i = 0; i < data.size(); ++i) {
    // Files (shard -1) are one run: their window shuffle is over the dataset order.
    if (i == 0 || data.samples[i].shard != data.samples[i - 1].shard) groups.push_back(0);
    ++groups.back();
  }
  return window_order(groups, spec.window, seed, epoch);
}

}  // namespace ft

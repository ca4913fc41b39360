// Epoch order and DistributedSampler slicing (see sampler.hpp).
#include "stages/source/sampler.hpp"

#include <utility>

#include "kernels/random/philox.hpp"
#include "pipeline/error.hpp"

namespace ft {

std::vector<std::uint32_t> epoch_order(std::size_t n, bool shuffle, std::uint64_t seed, int epoch) {
  std::vector<std::uint32_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
  if (!shuffle || n < 2) return order;
  rng::Philox g(seed, static_cast<std::uint32_t>(epoch), 0, kShuffleOp);
  for (std::size_t i = n - 1; i > 0; --i)
    std::swap(order[i], order[g.below(static_cast<std::uint32_t>(i + 1))]);
  return order;
}

std::size_t batch_count(std::size_t n, std::size_t batch_size, bool drop_last) {
  return drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
}

RankShare rank_share(const std::vector<std::uint32_t>& order, int rank, int world, bool drop_tail) {
  FT_ASSERT(world >= 1 && rank >= 0 && rank < world);
  const auto n = order.size();
  const auto w = static_cast<std::size_t>(world);
  RankShare share;
  if (w == 1) {
    share.order = order;
    return share;
  }
  // As DistributedSampler: total = num_samples * world, num_samples = floor(n / w) with
  // drop_tail, else ceil(n / w); positions past n wrap to the head (repeating it if n < w).
  const std::size_t per_rank = drop_tail ? n / w : (n + w - 1) / w;
  if (n == 0) return share;
  share.order.reserve(per_rank);
  for (std::size_t k = 0; k < per_rank; ++k) {
    const std::size_t pos = static_cast<std::size_t>(rank) + k * w;
    share.order.push_back(order[pos % n]);
    if (pos >= n) ++share.padded;
  }
  return share;
}

}  // namespace ft

// Seeded test inputs the nn suites share (CPU bf16, im2col, GPU): values uniform in [lo, hi) and
// their absolute values (the bound runs).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/random/philox.hpp"

namespace ft::nn::testing {

inline std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float lo = -1.f,
                                        float hi = 1.f) {
  rng::Philox g(seed, 0, 0, 11);
  std::vector<float> v(n);
  for (float& x : v) x = g.uniform(lo, hi);
  return v;
}

inline std::vector<float> abs_of(std::vector<float> v) {
  for (float& x : v) x = std::fabs(x);
  return v;
}

}  // namespace ft::nn::testing

// random_erasing's noise (pixel.hpp erase_noise): Box-Muller on the op's own Philox blocks, within
// a few float ulps of the same formula in double, and N(0, 1) in distribution (moments, tails, a
// Kolmogorov-Smirnov distance, independence of the pair). Fixed seeds: each bound is ~5 standard
// deviations of its statistic, so a correct generator passes with certainty and a biased log,
// cos or sin, or a reused counter, fails.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/augment/ops/random_erasing.hpp"

using namespace ft::aug;

TEST_CASE("erase noise is Box-Muller on Philox block 2^31 + e / 2, to a few float ulps") {
  const std::uint64_t seed = 0x0123456789ABCDEFull, sample = (1ull << 40) + 5;
  const std::uint32_t epoch = 3, op = 6;
  double worst = 0;
  for (std::uint32_t e = 0; e < (1u << 18); ++e) {
    const ft::rng::U32x4 b = ft::rng::philox4x32_10(
        ft::rng::U32x4{{0x80000000u + e / 2, epoch, static_cast<std::uint32_t>(sample),
                        static_cast<std::uint32_t>(sample >> 32) | (op << 16)}},
        static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
    const double u1 = ((b.v[0] >> 8) + 1) / 16777216.0, u2 = (b.v[1] >> 8) / 16777216.0;
    const double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * 3.14159265358979323846 * u2;
    const double want = (e & 1u) ? r * std::sin(a) : r * std::cos(a);
    const float got = erase_noise(seed, epoch, sample, op, e);
    // log (0.83 ulp, halved by the sqrt), sqrt, cos / sin (1.6 ulp) and the product (0.5 ulp):
    // under 3 ulp of the result, i.e. 3 * 2^-23 relative; 2^-40 absolute covers the double
    // reference's rounding of 2 pi u2 at the zeros.
    const double err = std::fabs(got - want), tol = 3 * 0x1p-23 * std::fabs(want) + 0x1p-40;
    worst = std::max(worst, err / tol);
    if (err > tol) {
      CHECK_MESSAGE(err <= tol,
                    "element " << e << ": " << got << ", Box-Muller in double " << want);
      break;
    }
  }
  MESSAGE("erase noise vs Box-Muller in double: worst error " << worst << " of the tolerance");
}

TEST_CASE(
    "erase noise is N(0, 1): moments, tails, Kolmogorov-Smirnov distance, pair independence") {
  constexpr std::size_t kPairs = std::size_t{1} << 20, kN = 2 * kPairs;
  std::vector<double> z;
  z.reserve(kN);
  double sum = 0, sum2 = 0, sum4 = 0, cross = 0, largest = 0;
  for (std::uint32_t sample = 0; sample < 16; ++sample)
    for (std::uint32_t e = 0; e < kN / 16; e += 2) {
      float even, odd;
      erase_noise_pair(42, 1, sample, 9, e, even, odd);
      cross += static_cast<double>(even) * odd;
      for (const double v : {static_cast<double>(even), static_cast<double>(odd)}) {
        z.push_back(v);
        sum += v;
        sum2 += v * v;
        sum4 += v * v * v * v;
        largest = std::max(largest, std::fabs(v));
      }
    }
  REQUIRE(z.size() == kN);
  const double n = static_cast<double>(kN), mean = sum / n, var = sum2 / n - mean * mean;
  MESSAGE("mean " << mean << ", variance " << var << ", E z^4 " << sum4 / n << ", E[z0 z1] "
                  << cross / kPairs << ", max |z| " << largest);
  // Standard errors: mean 1/sqrt(n), variance sqrt(2/n), E z^4 sqrt(96/n), E[z0 z1] 1/sqrt(pairs).
  CHECK(std::fabs(mean) < 5 / std::sqrt(n));
  CHECK(std::fabs(var - 1) < 5 * std::sqrt(2 / n));
  CHECK(std::fabs(sum4 / n - 3) < 5 * std::sqrt(96 / n));
  CHECK(std::fabs(cross / kPairs) < 5 / std::sqrt(static_cast<double>(kPairs)));
  // u1 >= 2^-24 bounds the radius: sqrt(2 * 24 ln 2).
  CHECK(largest <= std::sqrt(48 * std::log(2.0)));
  // Two-sided tails, each count within 5 binomial standard deviations of n P(|z| > t).
  for (const double t : {1.0, 2.0, 3.0, 4.0}) {
    const double p = std::erfc(t / std::sqrt(2.0));
    const auto beyond =
        std::count_if(z.begin(), z.end(), [t](double v) { return std::fabs(v) > t; });
    CHECK_MESSAGE(std::fabs(static_cast<double>(beyond) - n * p) < 5 * std::sqrt(n * p * (1 - p)),
                  "|z| > " << t << ": " << beyond << " of " << kN << ", expected " << n * p);
  }
  // Kolmogorov-Smirnov distance to the normal CDF: 1.95 / sqrt(n) is its 0.1% critical value.
  std::sort(z.begin(), z.end());
  double d = 0;
  for (std::size_t i = 0; i < kN; ++i) {
    const double cdf = 0.5 * std::erfc(-z[i] / std::sqrt(2.0));
    d = std::max({d, cdf - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - cdf});
  }
  MESSAGE("Kolmogorov-Smirnov distance " << d);
  CHECK(d < 1.95 / std::sqrt(n));
}

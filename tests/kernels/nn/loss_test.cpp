// Cross-entropy with label smoothing against hand-computed values and finite differences, and
// the top-1/top-5 counter.
#include "kernels/nn/loss.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

using namespace ft::nn;

TEST_CASE("cross_entropy matches the closed form, with and without label smoothing") {
  const std::vector<float> logits{1.f, 2.f, 3.f, -1.f, 0.f, 0.5f};  // (2, 3)
  const std::vector<std::int32_t> labels{2, 0};
  const auto nll = [](double a, double b, double c, int y) {
    const double lse = std::log(std::exp(a) + std::exp(b) + std::exp(c));
    const double v[3] = {a, b, c};
    return std::pair{lse - v[y], lse - (a + b + c) / 3};
  };
  const auto [n0, s0] = nll(1, 2, 3, 2);
  const auto [n1, s1] = nll(-1, 0, 0.5, 0);
  std::vector<float> per(2);
  // Tolerance: the loss is computed in double and returned as double; per-sample values are f32.
  CHECK(cross_entropy_forward(logits.data(), labels.data(), 2, 3, 0.f, per.data()) ==
        doctest::Approx((n0 + n1) / 2).epsilon(1e-12));
  CHECK(per[1] == doctest::Approx(n1).epsilon(1e-6));
  const double e = 0.1;
  CHECK(cross_entropy_forward(logits.data(), labels.data(), 2, 3, 0.1f) ==
        doctest::Approx(((1 - e) * n0 + e * s0 + (1 - e) * n1 + e * s1) / 2).epsilon(1e-7));
  CHECK_THROWS_AS(
      cross_entropy_forward(logits.data(), std::vector<std::int32_t>{3, 0}.data(), 2, 3, 0.f),
      std::invalid_argument);
}

TEST_CASE("cross_entropy backward equals central differences of the mean loss") {
  std::vector<float> logits{0.3f, -1.2f, 2.f, 0.7f, 1.1f, 0.f, -0.4f, 0.9f};  // (2, 4)
  const std::vector<std::int32_t> labels{3, 1};
  for (float smoothing : {0.f, 0.2f}) {
    std::vector<float> d(8);
    cross_entropy_backward(d.data(), logits.data(), labels.data(), 2, 4, smoothing);
    for (int i = 0; i < 8; ++i) {
      const float keep = logits[i];
      const float h = 1e-3f;
      logits[i] = keep + h;
      const double lp = cross_entropy_forward(logits.data(), labels.data(), 2, 4, smoothing);
      logits[i] = keep - h;
      const double lm = cross_entropy_forward(logits.data(), labels.data(), 2, 4, smoothing);
      logits[i] = keep;
      // Step 1e-3 on f32 logits: the perturbation itself is exact to ~1e-10, truncation O(h^2).
      CHECK(d[i] == doctest::Approx((lp - lm) / (2 * h)).epsilon(1e-4));
    }
    double row_sum = 0;
    for (int j = 0; j < 4; ++j) row_sum += d[j];
    CHECK(row_sum == doctest::Approx(0).epsilon(1e-7));  // softmax and targets both sum to 1
  }
}

TEST_CASE("topk_correct counts top-1 and top-5 hits; ties rank the lower index first") {
  std::vector<float> logits(3 * 7, 0.f);                  // (3, 7)
  for (int j = 0; j < 7; ++j) logits[j] = float(j);       // sample 0: class 6 best
  for (int j = 0; j < 7; ++j) logits[7 + j] = float(-j);  // sample 1: class 0 best
  const std::vector<std::int32_t> labels{6, 5, 3};        // sample 2: all tied, label 3 ranks 3rd
  const TopkCorrect c = topk_correct(logits.data(), labels.data(), 3, 7);
  CHECK(c.top1 == 1);
  CHECK(c.top5 == 2);  // sample 1: label 5 ranks 6th; sample 2: label 3 ranks 4th
}

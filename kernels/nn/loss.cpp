// Cross-entropy (log-softmax in double for a stable, exact-enough reference) and top-k counts.
#include "kernels/nn/loss.hpp"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace ft::nn {
namespace {

void check_label(std::int32_t label, int i, int k) {
  if (label < 0 || label >= k)
    throw std::invalid_argument("cross_entropy: sample " + std::to_string(i) + " has label " +
                                std::to_string(label) + ", expected 0.." + std::to_string(k - 1));
}

// log(sum(exp(row))) with the max subtracted.
double log_sum_exp(const float* row, int k, double& max_out) {
  double mx = row[0];
  for (int j = 1; j < k; ++j) mx = std::max(mx, double(row[j]));
  double s = 0;
  for (int j = 0; j < k; ++j) s += std::exp(double(row[j]) - mx);
  max_out = mx;
  return mx + std::log(s);
}

}  // namespace

double cross_entropy_forward(const float* logits, const std::int32_t* labels, int n, int k,
                             float label_smoothing, float* per_sample) {
  if (n <= 0 || k <= 0) throw std::invalid_argument("cross_entropy: empty batch or no classes");
  double total = 0;
  const double e = label_smoothing;
  for (int i = 0; i < n; ++i) {
    check_label(labels[i], i, k);
    const float* row = logits + std::int64_t{i} * k;
    double mx;
    const double lse = log_sum_exp(row, k, mx);
    double sum_logits = 0;
    for (int j = 0; j < k; ++j) sum_logits += row[j];
    const double nll = lse - row[labels[i]];
    const double smooth = lse - sum_logits / k;  // mean_k(-log p_k)
    const double loss = (1 - e) * nll + e * smooth;
    if (per_sample) per_sample[i] = float(loss);
    total += loss;
  }
  return total / n;
}

void cross_entropy_backward(float* dlogits, const float* logits, const std::int32_t* labels, int n,
                            int k, float label_smoothing) {
  const double e = label_smoothing;
  for (int i = 0; i < n; ++i) {
    check_label(labels[i], i, k);
    const float* row = logits + std::int64_t{i} * k;
    float* d = dlogits + std::int64_t{i} * k;
    double mx;
    const double lse = log_sum_exp(row, k, mx);
    for (int j = 0; j < k; ++j) {
      const double target = (j == labels[i] ? 1 - e : 0.0) + e / k;
      d[j] = float((std::exp(double(row[j]) - lse) - target) / n);
    }
  }
}

TopkCorrect topk_correct(const float* logits, const std::int32_t* labels, int n, int k) {
  TopkCorrect c;
  for (int i = 0; i < n; ++i) {
    const float* row = logits + std::int64_t{i} * k;
    const int y = labels[i];
    if (y < 0 || y >= k) continue;
    // Rank of the label: classes that beat it (larger, or equal with a lower index).
    int rank = 0;
    for (int j = 0; j < k; ++j)
      if (row[j] > row[y] || (row[j] == row[y] && j < y)) ++rank;
    c.top1 += rank == 0;
    c.top5 += rank < 5;
  }
  return c;
}

}  // namespace ft::nn

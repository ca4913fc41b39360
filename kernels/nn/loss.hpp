// Cross-entropy with label smoothing (PyTorch's nn.CrossEntropyLoss, mean reduction) and top-k
// counts. Logits are (N, K) f32, labels int32 in [0, K).
#pragma once

#include <cstdint>

namespace ft::nn {

// Returns the mean loss; writes each sample's loss to per_sample (N) when not null. With
// smoothing e: loss_i = (1 - e) * (-log p_i[y_i]) + e * mean_k(-log p_i[k]).
double cross_entropy_forward(const float* logits, const std::int32_t* labels, int n, int k,
                             float label_smoothing, float* per_sample = nullptr);

// dlogits (N, K) = d(mean loss)/d(logits) = (softmax - target) / N, target = (1 - e) onehot + e /
// K.
void cross_entropy_backward(float* dlogits, const float* logits, const std::int32_t* labels, int n,
                            int k, float label_smoothing);

struct TopkCorrect {
  std::int64_t top1 = 0, top5 = 0;
};
// How many samples have their label as the largest logit (top1) / among the 5 largest (top5;
// all when K <= 5). Ties rank the lower class index first, as a stable sort would.
TopkCorrect topk_correct(const float* logits, const std::int32_t* labels, int n, int k);

}  // namespace ft::nn

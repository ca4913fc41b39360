// SyncBatchNorm, PyTorch's semantics: in training, batch norm normalises with the mean and biased
// variance of the global batch (every process's samples) and updates the running variance with its
// unbiased variance; backward all-reduces the per-channel sums of dy and dy * x_hat. The layers
// see the other processes only through a ChannelSum (kernels/nn includes no MPI or NCCL;
// kernels/dist/channel_sum.hpp implements it over a dist::Comm). The per-channel arithmetic below
// is shared by the CPU loops and the CUDA kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>

#include "kernels/hd.hpp"
#include "kernels/nn/module.hpp"

namespace ft::nn {

// Adds up per-channel sums over the processes of a data-parallel run, in place, in host memory.
// Every process calls it the same number of times with the same n (a collective).
class ChannelSum {
 public:
  virtual ~ChannelSum() = default;
  virtual void allreduce(double* data, std::size_t n) const = 0;
};

// The layers of `base` with every batch norm synchronised through `sums` (the layers hold it).
// The result must outlive the models built from it (composites keep the factory).
std::unique_ptr<LayerFactory> sync_batch_norm_layers(const LayerFactory& base,
                                                     std::shared_ptr<const ChannelSum> sums);

// The synchronised batch norm layers themselves (as LayerFactory::batch_norm otherwise). The CUDA
// one throws std::runtime_error in a build without CUDA.
namespace cpu {
ModulePtr make_sync_batch_norm(const BatchNormSpec& spec, std::shared_ptr<const ChannelSum> sums);
}
namespace cuda {
ModulePtr make_sync_batch_norm(const BatchNormSpec& spec, std::shared_ptr<const ChannelSum> sums);
}

// Statistics of one channel over the global batch from the summed count, sum and sum of squares
// (double: the local sums of float values are exact to ~1e-16 relative, so E[x^2] - mean^2 loses
// precision only when |mean| / std exceeds ~1e4).
struct ChannelStats {
  float mean = 0, var = 0;  // var: biased (the normalisation's)
  double unbiased_var = 0;  // for the running variance: var * count / (count - 1)
};

inline ChannelStats channel_stats(double count, double sum, double sum_sq) {
  const double mean = sum / count;
  const double var = std::max(0.0, sum_sq / count - mean * mean);
  return {static_cast<float>(mean), static_cast<float>(var),
          count > 1 ? var * count / (count - 1) : var};
}

inline float inv_std(float var, float eps) { return 1.0f / std::sqrt(var + eps); }

// running = (1 - momentum) * running + momentum * batch (mean, or the unbiased variance).
FT_HD inline float running_update(float running, float batch, float momentum) {
  return (1 - momentum) * running + momentum * batch;
}

// dL/dx of one element of a batch-normalised tensor, the statistics taken over `count` values:
// dx = gamma * invstd * (dy - sum(dy) / count - x_hat * sum(dy * x_hat) / count), with
// x_hat = (x - mean) * invstd and dy already masked by the fused ReLU.
struct BatchNormInputGrad {
  float mean, invstd, gamma_invstd, mean_dy, mean_dy_xhat;

  FT_HD float operator()(float x, float dy) const {
    const float xhat = (x - mean) * invstd;
    return gamma_invstd * (dy - mean_dy - xhat * mean_dy_xhat);
  }
};

inline BatchNormInputGrad batch_norm_input_grad(float mean, float var, float eps, float gamma,
                                                double count, double sum_dy, double sum_dy_xhat) {
  const float invstd = inv_std(var, eps);
  return {mean, invstd, gamma * invstd, static_cast<float>(sum_dy / count),
          static_cast<float>(sum_dy_xhat / count)};
}

}  // namespace ft::nn

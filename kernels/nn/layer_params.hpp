// The parameters and buffers of the layers that have state, shaped, initialised and named as
// torch's (state_dict keys): one definition for the CPU and the CUDA layers, so both expose the
// same tensors to the optimizer, the checkpoints and the fixtures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/nn/parameter.hpp"

namespace ft::nn {

// A weight of `weight_shape` (dim 0 = output features/channels) and an optional bias, zeroed.
struct WeightBias {
  Parameter weight, bias;
  bool has_bias = false;

  WeightBias() = default;
  WeightBias(std::vector<std::int64_t> weight_shape, bool with_bias) : has_bias(with_bias) {
    std::size_t n = 1;
    for (auto d : weight_shape) n *= static_cast<std::size_t>(d);
    const std::int64_t out = weight_shape.at(0);
    weight = Parameter{"", std::move(weight_shape), ParamRole::weight, std::vector<float>(n, 0.f),
                       std::vector<float>(n, 0.f)};
    if (with_bias)
      bias = Parameter{"",
                       {out},
                       ParamRole::bias,
                       std::vector<float>(static_cast<std::size_t>(out), 0.f),
                       std::vector<float>(static_cast<std::size_t>(out), 0.f)};
  }
  void collect(const std::string& prefix, std::vector<Parameter*>& params) {
    weight.name = prefix + "weight";
    params.push_back(&weight);
    if (has_bias) {
      bias.name = prefix + "bias";
      params.push_back(&bias);
    }
  }
};

// Batch norm: weight 1, bias 0, running_mean 0, running_var 1, num_batches_tracked 0.
struct NormParams {
  Parameter weight, bias;
  Buffer running_mean, running_var, num_batches_tracked;

  NormParams() = default;
  explicit NormParams(int channels) {
    const auto c = static_cast<std::size_t>(channels);
    const std::vector<std::int64_t> shape{channels};
    weight = Parameter{"", shape, ParamRole::norm, std::vector<float>(c, 1.f),
                       std::vector<float>(c, 0.f)};
    bias = Parameter{"", shape, ParamRole::norm, std::vector<float>(c, 0.f),
                     std::vector<float>(c, 0.f)};
    running_mean = Buffer{"", shape, std::vector<float>(c, 0.f)};
    running_var = Buffer{"", shape, std::vector<float>(c, 1.f)};
    num_batches_tracked = Buffer{"", {}, std::vector<float>(1, 0.f)};
  }
  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>& buffers) {
    weight.name = prefix + "weight";
    bias.name = prefix + "bias";
    running_mean.name = prefix + "running_mean";
    running_var.name = prefix + "running_var";
    num_batches_tracked.name = prefix + "num_batches_tracked";
    params.push_back(&weight);
    params.push_back(&bias);
    buffers.push_back(&running_mean);
    buffers.push_back(&running_var);
    buffers.push_back(&num_batches_tracked);
  }
};

}  // namespace ft::nn

// Parameters and buffers as the optimizer, the checkpoint and the models see them: named flat
// float storage with a shape. A model owns them; the optimizer and checkpoint hold pointers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ft::nn {

enum class ParamRole : std::uint8_t { weight, bias, norm };  // norm: batch-norm weight or bias

struct Parameter {
  std::string name;  // e.g. "layer1.0.conv1.weight", as torchvision names it
  std::vector<std::int64_t> shape;
  ParamRole role = ParamRole::weight;
  std::vector<float> value;
  std::vector<float> grad;  // same size as value; backward accumulates into it
  // A model on the GPU keeps the live copy in device memory (owned by its layer): then backward
  // accumulates into device_grad, the optimizer updates device_value, and `value` is the host
  // mirror, current after Model::to_host(). Null on the CPU.
  float* device_value = nullptr;
  float* device_grad = nullptr;
};

// Non-trainable state saved with the model (batch-norm running mean/var, num_batches_tracked).
struct Buffer {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> value;
  float* device_value =
      nullptr;  // as Parameter::device_value (null: host only, e.g. num_batches_tracked)
};

}  // namespace ft::nn

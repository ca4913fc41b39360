// What the GPU suites of test_nn_gpu (gpu_nn_test.cpp, gpu_bf16_test.cpp) share: the skip without
// a device, seeded inputs, device-to-host copies, and the small models and labels they train.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/nn/cuda/device.hpp"
#include "kernels/nn/model.hpp"
#include "tests/kernels/nn/test_inputs.hpp"

namespace ft::nn::testing {

// False, with a doctest message the GPU check counts as a skip, when no device can be used.
inline bool have_gpu() {
  std::string why;
  if (cuda::available(&why)) return true;
  MESSAGE("skipped: " << why);
  return false;
}

inline std::vector<float> from_device(const float* p, std::size_t n) {
  std::vector<float> v(n);
  cuda::download(v.data(), p, n);
  return v;
}

inline ModelSpec small_spec(const std::string& kind, int hw, int classes) {
  ModelSpec s;
  s.kind = kind;
  s.num_classes = classes;
  s.in_channels = 3;
  s.height = s.width = hw;
  s.init_seed = 5;
  s.blocks = 4;
  s.base_width = 8;
  return s;
}

inline std::vector<std::int32_t> labels_for(int n, int k) {
  std::vector<std::int32_t> y(n);
  for (int i = 0; i < n; ++i) y[i] = (i * 7) % k;
  return y;
}

}  // namespace ft::nn::testing

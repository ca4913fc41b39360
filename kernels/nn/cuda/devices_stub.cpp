// Builds without CUDA: the device report says so and lists nothing.
#include "kernels/nn/cuda/devices.hpp"

namespace ft::nn::cuda {

DeviceReport query_devices() {
  DeviceReport r;
  r.why_none = "this flowtrain was built without CUDA (meson option gpu)";
  return r;
}

}  // namespace ft::nn::cuda

// Builds without CUDA: the device entry points exist and say why they cannot run.
#include <stdexcept>

#include "kernels/nn/cuda/device.hpp"
#include "kernels/nn/module.hpp"

namespace ft::nn::cuda {

namespace {
[[noreturn]] void no_cuda() {
  throw std::runtime_error(
      "this flowtrain was built without CUDA (meson option gpu): no GPU layers");
}
}  // namespace

bool available(std::string* why) {
  if (why) *why = "this flowtrain was built without CUDA (meson option gpu)";
  return false;
}
void select_device(int) {}
void* stream_handle() { no_cuda(); }
DeviceArray::~DeviceArray() = default;
DeviceArray& DeviceArray::operator=(DeviceArray&& o) noexcept {
  p_ = o.p_;
  n_ = o.n_;
  return *this;
}
void DeviceArray::resize(std::size_t) { no_cuda(); }
void upload(float*, const float*, std::size_t) { no_cuda(); }
void download(float*, const float*, std::size_t) { no_cuda(); }
void zero(float*, std::size_t) { no_cuda(); }
void synchronize() { no_cuda(); }
void sgd_update(float*, const float*, float*, std::int64_t, float, float, float, float, bool,
                bool) {
  no_cuda();
}
double grad_squared_norm(const std::vector<Parameter*>&) { no_cuda(); }
void scale_grads(const std::vector<Parameter*>&, float) { no_cuda(); }
std::vector<std::string> nondeterministic_algorithms() { return {}; }
void set_allow_tf32(bool) {}
bool allow_tf32() { return false; }

}  // namespace ft::nn::cuda

namespace ft::nn {
const LayerFactory& cuda_layers(Precision) { cuda::no_cuda(); }
}  // namespace ft::nn

// Model: the shape-keyed setup, forward/backward through the network, and parameter init.
#include "kernels/nn/model.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "kernels/nn/cuda/device.hpp"
#include "kernels/random/philox.hpp"

namespace ft::nn {

struct Model::DeviceIo {
  cuda::DeviceArray x, dlogits;
};

Model::Model(ModelSpec spec, Sequential net, bool on_device)
    : spec_(std::move(spec)), net_(std::move(net)), on_device_(on_device) {
  net_.collect("", params_, buffers_);
  net_.skip_input_grad();  // nobody needs dL/d(images)
  if (on_device_) io_ = std::make_shared<DeviceIo>();
}

void Model::forward(const float* x, int n, bool training, float* logits) {
  forward(x, n, spec_.height, spec_.width, training, logits);
}

void Model::prepare(const Shape& in) {
  if (in == in_) return;
  const Shape out = net_.setup(in);
  if (out.per_sample() != spec_.num_classes || out.dtype != DataType::f32)
    throw std::logic_error("model " + spec_.kind + ": output " + to_string(out) +
                           " is not (N, num_classes) f32");
  in_ = in;
}

void Model::forward(const float* x, int n, int h, int w, bool training, float* logits) {
  if (threads_ > 0) omp_set_num_threads(threads_);
  const Shape in{n, spec_.in_channels, h, w};
  prepare(in);
  const std::size_t outputs = static_cast<std::size_t>(n) * spec_.num_classes;
  if (on_device_) {
    device_input_ = false;
    const auto count = static_cast<std::size_t>(in.numel());
    io_->x.resize(count);
    cuda::upload(io_->x.data(), x, count);
    cuda::download(logits, net_.forward(io_->x.data(), training), outputs);
    return;
  }
  const float* y = net_.forward(x, training);
  std::copy(y, y + outputs, logits);
}

void Model::forward_device(const float* x, int n, int h, int w, bool training, float* logits) {
  if (!on_device_)
    throw std::logic_error("model " + spec_.kind + ": forward_device on a CPU model");
  const Shape in{n, spec_.in_channels, h, w};
  prepare(in);
  device_input_ = true;
  cuda::download(logits, net_.forward(x, training),
                 static_cast<std::size_t>(n) * spec_.num_classes);
}

void Model::backward(const float* dlogits) {
  if (on_device_) {
    const auto count = static_cast<std::size_t>(in_.n) * spec_.num_classes;
    io_->dlogits.resize(count);
    cuda::upload(io_->dlogits.data(), dlogits, count);
    net_.backward(io_->dlogits.data());
    // The caller's device input may be overwritten (by another stream) once we return, and the
    // first layer's weight gradient still reads it: wait for the backward kernels.
    if (device_input_) cuda::synchronize();
    return;
  }
  if (threads_ > 0) omp_set_num_threads(threads_);
  net_.backward(dlogits);
}

void Model::set_grads_ready(GradsReady hook) {
  grads_ready_ = hook ? std::make_unique<GradsReady>(std::move(hook)) : nullptr;
  net_.set_grads_ready(grads_ready_.get());
}

void Model::zero_grad() {
  for (Parameter* p : params_) {
    if (p->device_grad)
      cuda::zero(p->device_grad, p->grad.size());
    else
      std::fill(p->grad.begin(), p->grad.end(), 0.f);
  }
}

void Model::to_host() {
  if (!on_device_) return;
  for (Parameter* p : params_)
    if (p->device_value) cuda::download(p->value.data(), p->device_value, p->value.size());
  for (Buffer* b : buffers_)
    if (b->device_value) cuda::download(b->value.data(), b->device_value, b->value.size());
}

void Model::to_device() {
  if (!on_device_) return;
  for (Parameter* p : params_)
    if (p->device_value) cuda::upload(p->device_value, p->value.data(), p->value.size());
  for (Buffer* b : buffers_)
    if (b->device_value) cuda::upload(b->device_value, b->value.data(), b->value.size());
}

Parameter* Model::find_parameter(const std::string& name) {
  for (Parameter* p : params_)
    if (p->name == name) return p;
  return nullptr;
}

std::int64_t Model::num_parameters() const {
  std::int64_t total = 0;
  for (const Parameter* p : params_) total += static_cast<std::int64_t>(p->value.size());
  return total;
}

void init_parameters(const std::vector<Parameter*>& params, std::uint64_t seed,
                     bool torchvision_convs) {
  constexpr std::uint32_t kInitOp = 0x1417;  // keeps init draws apart from other Philox users
  double last_fan_in = 1;
  for (std::size_t i = 0; i < params.size(); ++i) {
    Parameter& p = *params[i];
    rng::Philox gen(seed, 0, i, kInitOp);
    if (p.role == ParamRole::norm) {
      const bool is_weight =
          p.name.size() >= 6 && p.name.compare(p.name.size() - 6, 6, "weight") == 0;
      std::fill(p.value.begin(), p.value.end(), is_weight ? 1.f : 0.f);
      continue;
    }
    if (p.role == ParamRole::weight) {
      double receptive = 1;
      for (std::size_t d = 2; d < p.shape.size(); ++d) receptive *= double(p.shape[d]);
      last_fan_in = double(p.shape.size() > 1 ? p.shape[1] : 1) * receptive;
      const double fan_out = double(p.shape[0]) * receptive;
      if (torchvision_convs && p.shape.size() == 4) {
        // kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / fan_out);
        // Box-Muller.
        const double std_dev = std::sqrt(2.0 / fan_out);
        for (float& v : p.value) {
          const double u1 = (gen.next_u32() + 1.0) / 4294967296.0,
                       u2 = gen.next_u32() / 4294967296.0;
          v = float(std_dev * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
        }
        continue;
      }
    }
    // kaiming_uniform_(a = sqrt(5)) for weights and the bias rule both give bound 1/sqrt(fan_in).
    const float bound = float(1.0 / std::sqrt(last_fan_in));
    for (float& v : p.value) v = gen.uniform(-bound, bound);
  }
}

}  // namespace ft::nn

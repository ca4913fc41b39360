// SGD update and gradient clipping; see sgd.hpp. The update loops are written so the compiler
// vectorises them (restrict pointers, no branches inside the loop).
#include "kernels/optim/sgd.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "kernels/optim/checkpoint.hpp"
#include "kernels/optim/sgd_math.hpp"

namespace ft::optim {

namespace {

const std::string kStepKey = "optim.step";
const std::string kBufferPrefix = "optim.momentum_buffer.";

void check_options(const SgdOptions& o) {
  if (!(o.lr >= 0.0))
    throw std::invalid_argument("sgd: lr must be >= 0, got " + std::to_string(o.lr));
  if (!(o.momentum >= 0.0))
    throw std::invalid_argument("sgd: momentum must be >= 0, got " + std::to_string(o.momentum));
  if (!(o.weight_decay >= 0.0))
    throw std::invalid_argument("sgd: weight_decay must be >= 0, got " +
                                std::to_string(o.weight_decay));
  if (!(o.max_grad_norm >= 0.0))
    throw std::invalid_argument("sgd: max_grad_norm must be >= 0 (0 = no clipping), got " +
                                std::to_string(o.max_grad_norm));
  // torch.optim.SGD raises the same error at construction.
  if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
    throw std::invalid_argument("sgd: nesterov requires momentum > 0 and dampening = 0");
}

}  // namespace

std::string describe(const SgdOptions& o) {
  std::ostringstream s;
  s << "sgd(lr=" << o.lr << ", momentum=" << o.momentum << ", dampening=" << o.dampening
    << ", nesterov=" << (o.nesterov ? "true" : "false") << ", weight_decay=" << o.weight_decay
    << ", no_decay=[";
  if (o.no_decay_bias) s << "bias" << (o.no_decay_norm ? ", " : "");
  if (o.no_decay_norm) s << "norm";
  s << "], max_grad_norm=" << o.max_grad_norm << ")";
  return s.str();
}

float clip_grad_norm(const std::vector<nn::Parameter*>& params, double max_norm) {
  // torch takes the 2-norm per tensor, then the 2-norm of those; accumulating squares in double
  // is within float rounding of that.
  double sum_sq = 0.0;
  for (const nn::Parameter* p : params) {
    const float* g = p->grad.data();
    const std::size_t n = p->grad.size();
    // Eight float lanes over blocks of 1024 (vectorisable), blocks summed in double: within
    // float rounding of torch's norm and twice as fast as a scalar double loop.
    constexpr std::size_t kLanes = 8, kBlock = 1024;
    std::size_t i = 0;
    while (i + kLanes <= n) {
      float acc[kLanes] = {};
      const std::size_t end = std::min(n - (n - i) % kLanes, i + kBlock);
      for (; i < end; i += kLanes)
        for (std::size_t j = 0; j < kLanes; ++j) acc[j] += g[i + j] * g[i + j];
      double block = 0.0;
      for (float a : acc) block += a;
      sum_sq += block;
    }
    for (; i < n; ++i) sum_sq += static_cast<double>(g[i]) * g[i];
  }
  const float total = static_cast<float>(std::sqrt(sum_sq));
  // torch computes the coefficient as a float32 tensor: max_norm / (total_norm + 1e-6).
  const float coef = static_cast<float>(max_norm) / (total + 1e-6f);
  if (coef < 1.0f) {
    for (nn::Parameter* p : params) {
      float* g = p->grad.data();
      const std::size_t n = p->grad.size();
      for (std::size_t i = 0; i < n; ++i) g[i] *= coef;
    }
  }
  return total;
}

void sgd_update(float* __restrict value, const float* __restrict grad,
                float* __restrict momentum_buffer, std::int64_t n, float lr, float momentum,
                float dampening, float weight_decay, bool nesterov, bool first) {
  // One loop per flag combination, the arithmetic in sgd_element (shared with the CUDA kernel).
  const float neg_lr = -lr, keep = 1.0f - dampening;
  if (momentum == 0.0f) {
    for (std::int64_t i = 0; i < n; ++i)
      sgd_element<false, false, false>(value[i], grad[i], nullptr, neg_lr, momentum, keep,
                                       weight_decay);
  } else if (first && nesterov) {
    for (std::int64_t i = 0; i < n; ++i)
      sgd_element<true, true, true>(value[i], grad[i], momentum_buffer + i, neg_lr, momentum, keep,
                                    weight_decay);
  } else if (first) {
    for (std::int64_t i = 0; i < n; ++i)
      sgd_element<true, false, true>(value[i], grad[i], momentum_buffer + i, neg_lr, momentum, keep,
                                     weight_decay);
  } else if (nesterov) {
    for (std::int64_t i = 0; i < n; ++i)
      sgd_element<true, true, false>(value[i], grad[i], momentum_buffer + i, neg_lr, momentum, keep,
                                     weight_decay);
  } else {
    for (std::int64_t i = 0; i < n; ++i)
      sgd_element<true, false, false>(value[i], grad[i], momentum_buffer + i, neg_lr, momentum,
                                      keep, weight_decay);
  }
}

Sgd::Sgd(std::vector<nn::Parameter*> params, const SgdOptions& options)
    : params_(std::move(params)), options_(options), buffers_(params_.size()) {
  check_options(options_);
  std::size_t on_device = 0;
  for (const nn::Parameter* p : params_) {
    if (p == nullptr) throw std::invalid_argument("sgd: null parameter pointer");
    if (p->grad.size() != p->value.size())
      throw std::invalid_argument("sgd: parameter '" + p->name + "' has " +
                                  std::to_string(p->value.size()) + " values but " +
                                  std::to_string(p->grad.size()) + " gradients");
    on_device += p->device_value != nullptr && p->device_grad != nullptr;
  }
  if (on_device != 0 && on_device != params_.size())
    throw std::invalid_argument("sgd: some parameters are on the GPU and some are not");
  on_device_ = on_device != 0;
  if (on_device_) device_buffers_.resize(params_.size());
}

void Sgd::set_momentum(double momentum) {
  if (!(momentum >= 0.0))
    throw std::invalid_argument("sgd: momentum must be >= 0, got " + std::to_string(momentum));
  options_.momentum = momentum;
}

double Sgd::weight_decay_for(const nn::Parameter& p) const {
  if (p.role == nn::ParamRole::bias && options_.no_decay_bias) return 0.0;
  if (p.role == nn::ParamRole::norm && options_.no_decay_norm) return 0.0;
  return options_.weight_decay;
}

void Sgd::step() {
  last_grad_norm_ = 0.0f;
  if (options_.max_grad_norm > 0.0)
    last_grad_norm_ = on_device_ ? clip_device() : clip_grad_norm(params_, options_.max_grad_norm);
  const float lr = static_cast<float>(options_.lr);
  const float momentum = static_cast<float>(options_.momentum);
  const float dampening = static_cast<float>(options_.dampening);
  for (std::size_t k = 0; k < params_.size(); ++k) {
    nn::Parameter& p = *params_[k];
    const auto n = static_cast<std::int64_t>(p.value.size());
    const auto wd = static_cast<float>(weight_decay_for(p));
    if (on_device_) {
      nn::cuda::DeviceArray& buf = device_buffers_[k];
      const bool first = momentum != 0.0f && buf.size() == 0;
      if (first) buf.resize(p.value.size());
      nn::cuda::sgd_update(p.device_value, p.device_grad, buf.data(), n, lr, momentum, dampening,
                           wd, options_.nesterov, first);
    } else {
      std::vector<float>& buf = buffers_[k];
      const bool first = momentum != 0.0f && buf.empty();
      if (first) buf.resize(p.value.size());
      sgd_update(p.value.data(), p.grad.data(), buf.data(), n, lr, momentum, dampening, wd,
                 options_.nesterov, first);
    }
  }
  ++step_count_;
}

float Sgd::clip_device() {
  // clip_grad_norm_ on the device: squared norms summed in double, the same float coefficient;
  // one launch for the norm, one for the scale.
  const auto total = static_cast<float>(std::sqrt(nn::cuda::grad_squared_norm(params_)));
  const float coef = static_cast<float>(options_.max_grad_norm) / (total + 1e-6f);
  if (coef < 1.0f) nn::cuda::scale_grads(params_, coef);
  return total;
}

void Sgd::zero_grad() {
  for (nn::Parameter* p : params_) {
    if (p->device_grad)
      nn::cuda::zero(p->device_grad, p->grad.size());
    else
      std::fill(p->grad.begin(), p->grad.end(), 0.0f);
  }
}

void Sgd::save_state(Checkpoint& ckpt) const {
  ckpt.ints[kStepKey] = step_count_;
  for (std::size_t k = 0; k < params_.size(); ++k) {
    if (on_device_) {
      if (device_buffers_[k].size() == 0) continue;
      std::vector<float> host(params_[k]->value.size());
      nn::cuda::download(host.data(), device_buffers_[k].data(), host.size());
      ckpt.tensors[kBufferPrefix + params_[k]->name] =
          TensorRecord{params_[k]->shape, std::move(host)};
      continue;
    }
    if (buffers_[k].empty()) continue;
    ckpt.tensors[kBufferPrefix + params_[k]->name] = TensorRecord{params_[k]->shape, buffers_[k]};
  }
}

void Sgd::load_state(const Checkpoint& ckpt) {
  const std::string where = ckpt.source.empty() ? "checkpoint" : "checkpoint " + ckpt.source;
  std::vector<std::vector<float>> loaded(params_.size());
  for (std::size_t k = 0; k < params_.size(); ++k) {
    const nn::Parameter& p = *params_[k];
    auto it = ckpt.tensors.find(kBufferPrefix + p.name);
    if (it == ckpt.tensors.end()) continue;  // no buffer yet, as torch before the first step
    if (it->second.shape != p.shape || it->second.data.size() != p.value.size())
      throw std::runtime_error(where + ": momentum buffer of '" + p.name + "' has shape " +
                               shape_string(it->second.shape) + " but the parameter has shape " +
                               shape_string(p.shape));
    loaded[k] = it->second.data;
  }
  // A buffer for a parameter the optimizer does not hold means the model differs.
  for (const auto& [name, rec] : ckpt.tensors) {
    if (name.rfind(kBufferPrefix, 0) != 0) continue;
    const std::string pname = name.substr(kBufferPrefix.size());
    bool known = false;
    for (const nn::Parameter* p : params_) known = known || p->name == pname;
    if (!known)
      throw std::runtime_error(where + ": momentum buffer for '" + pname +
                               "', which the model does not have");
  }
  const std::int64_t steps = ckpt.int_value(kStepKey);
  if (on_device_)
    for (std::size_t k = 0; k < params_.size(); ++k) {
      device_buffers_[k] = nn::cuda::DeviceArray();
      if (loaded[k].empty()) continue;
      device_buffers_[k].resize(loaded[k].size());
      nn::cuda::upload(device_buffers_[k].data(), loaded[k].data(), loaded[k].size());
    }
  buffers_ = std::move(loaded);
  step_count_ = steps;
}

}  // namespace ft::optim

// SGD exactly as torch.optim.SGD (1.13, single-tensor path): weight decay, momentum with the
// buffer initialised to the first (decayed) gradient, dampening, nesterov; two parameter groups
// (decay / no_decay by ParamRole); optional clipping by global gradient norm (clip_grad_norm_).
// The optimizer holds pointers: the model owns the parameters and must outlive it. Parameters of a
// GPU model (device_value set) are updated on the device with the same per-element arithmetic
// (sgd_math.hpp), their momentum buffers kept in device memory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/nn/cuda/device.hpp"
#include "kernels/nn/parameter.hpp"

namespace ft::optim {

struct Checkpoint;

struct SgdOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
  bool no_decay_bias = false;  // ParamRole::bias gets weight_decay 0
  bool no_decay_norm = false;  // ParamRole::norm (batch-norm weight and bias) gets weight_decay 0
  double max_grad_norm = 0.0;  // > 0: clip_grad_norm(params, max_grad_norm) before each step
};

// One line for checkpoint metadata and logs, e.g. "sgd(lr=0.1, momentum=0.9, dampening=0,
// nesterov=true, weight_decay=0.0005, no_decay=[bias, norm], max_grad_norm=0)".
std::string describe(const SgdOptions& options);

// torch.nn.utils.clip_grad_norm_(params, max_norm) with norm_type 2: scales every gradient by
// min(1, max_norm / (total_norm + 1e-6)). Returns the total norm before clipping.
float clip_grad_norm(const std::vector<nn::Parameter*>& params, double max_norm);

// The per-element update torch performs, on one contiguous tensor. `first` is true when the
// momentum buffer does not exist yet (torch: buf = clone(d_p)). Scalars are passed as float
// because torch applies them as float alphas to float tensors.
void sgd_update(float* value, const float* grad, float* momentum_buffer, std::int64_t n, float lr,
                float momentum, float dampening, float weight_decay, bool nesterov, bool first);

class Sgd {
 public:
  Sgd(std::vector<nn::Parameter*> params, const SgdOptions& options);

  // Schedules call these before step(); momentum changes apply to the next step (torch reads
  // group['momentum'] at each step).
  void set_lr(double lr) { options_.lr = lr; }
  void set_momentum(double momentum);
  double lr() const { return options_.lr; }
  double momentum() const { return options_.momentum; }
  const SgdOptions& options() const { return options_; }

  // One update of every parameter from its grad. Does not zero the grads.
  void step();
  void zero_grad();

  std::int64_t step_count() const { return step_count_; }
  // The total gradient norm measured by the last step's clipping (0 when clipping is off).
  float last_grad_norm() const { return last_grad_norm_; }
  // Weight decay applied to this parameter under the options' no_decay groups.
  double weight_decay_for(const nn::Parameter& p) const;

  // State: "optim.step" (int) and "optim.momentum_buffer.<param name>" (tensor; absent until
  // the first step with momentum, as in torch). load_state checks names and shapes.
  void save_state(Checkpoint& ckpt) const;
  void load_state(const Checkpoint& ckpt);

 private:
  float clip_device();  // clip_grad_norm for device gradients; returns the norm before clipping
  std::vector<nn::Parameter*> params_;
  SgdOptions options_;
  std::vector<std::vector<float>> buffers_;  // parallel to params_; empty = no buffer yet
  bool on_device_ = false;                   // every parameter has device_value
  std::vector<nn::cuda::DeviceArray>
      device_buffers_;  // on_device_: the momentum buffers (size 0 = none yet)
  std::int64_t step_count_ = 0;
  float last_grad_norm_ = 0.0f;
};

}  // namespace ft::optim

// BatchNorm2d / BatchNorm1d ((N, C, 1, 1)) on cuDNN's spatial mode (see layers.cuh), with the
// optional fused ReLU as an own kernel.
#include <memory>

#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"

namespace ft::nn::cuda {
namespace {

// ---- BatchNorm (cuDNN spatial mode; BatchNorm1d is (N, C, 1, 1)) -------------------------------
// cuDNN updates the running variance with the unbiased batch variance and the factor `momentum`,
// PyTorch's rule. num_batches_tracked stays on the host (it is a counter, not a tensor op).
class BatchNorm final : public Module {
 public:
  explicit BatchNorm(const BatchNormSpec& spec) : spec_(spec) {
    if (spec.channels <= 0) throw std::invalid_argument("batch_norm (cuda): channels must be > 0");
    const auto c = static_cast<std::size_t>(spec.channels);
    p_ = NormParams(spec.channels);
    w_.attach(p_.weight);
    b_.attach(p_.bias);
    mean_dev_.resize(c);
    var_dev_.resize(c);
    p_.running_mean.device_value = mean_dev_.data();
    p_.running_var.device_value = var_dev_.data();
    upload(w_.value.data(), p_.weight.value.data(), c);
    upload(var_dev_.data(), p_.running_var.value.data(), c);
    save_mean_.resize(c);
    save_inv_var_.resize(c);
  }

  Shape setup(const Shape& in) override {
    require_nchw(in, "batch_norm");
    if (in.c != spec_.channels)
      throw std::invalid_argument("batch_norm (cuda): input " + to_string(in) + " has " +
                                  std::to_string(in.c) + " channels, expected " +
                                  std::to_string(spec_.channels));
    if (in == in_) return in_;
    in_ = in;
    x_desc_.set(in.n, in.c, in.h, in.w);
    check(cudnnDeriveBNTensorDescriptor(bn_desc_.get(), x_desc_.get(), CUDNN_BATCHNORM_SPATIAL),
          "cudnnDeriveBNTensorDescriptor");
    y_.resize(static_cast<std::size_t>(in.numel()));
    dx_.resize(static_cast<std::size_t>(in.numel()));
    if (spec_.relu) dmasked_.resize(static_cast<std::size_t>(in.numel()));
    return in_;
  }

  const float* forward(const float* x, bool training) override {
    Runtime& rt = runtime();
    x_ = x;
    trained_ = training;
    if (training && std::int64_t{in_.n} * in_.h * in_.w <= 1)  // as the CPU layer and PyTorch
      throw std::invalid_argument(
          "batch_norm (cuda): training needs more than one value per channel, got input " +
          to_string(in_));
    if (training) {
      check(cudnnBatchNormalizationForwardTraining(
                rt.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x_desc_.get(), x, x_desc_.get(),
                y_.data(), bn_desc_.get(), w_.value.data(), b_.value.data(), spec_.momentum,
                mean_dev_.data(), var_dev_.data(), spec_.eps, save_mean_.data(),
                save_inv_var_.data()),
            "cudnnBatchNormalizationForwardTraining");
      p_.num_batches_tracked.value[0] += 1.f;
    } else {
      check(cudnnBatchNormalizationForwardInference(
                rt.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x_desc_.get(), x, x_desc_.get(),
                y_.data(), bn_desc_.get(), w_.value.data(), b_.value.data(), mean_dev_.data(),
                var_dev_.data(), spec_.eps),
            "cudnnBatchNormalizationForwardInference");
    }
    if (spec_.relu) {
      relu_forward<<<blocks_for(in_.numel()), kThreads, 0, rt.stream>>>(y_.data(), y_.data(),
                                                                        in_.numel());
      check_launch("relu_forward");
    }
    return y_.data();
  }

  const float* backward(const float* dy) override {
    if (!trained_)
      throw std::logic_error(
          "batch_norm (cuda): backward after an eval-mode forward is not supported");
    Runtime& rt = runtime();
    if (spec_.relu) {
      relu_backward<<<blocks_for(in_.numel()), kThreads, 0, rt.stream>>>(dmasked_.data(), y_.data(),
                                                                         dy, in_.numel());
      check_launch("relu_backward");
      dy = dmasked_.data();
    }
    check(cudnnBatchNormalizationBackward(
              rt.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, &kOne, &kOne, x_desc_.get(), x_,
              x_desc_.get(), dy, x_desc_.get(), dx_.data(), bn_desc_.get(), w_.value.data(),
              w_.grad.data(), b_.grad.data(), spec_.eps, save_mean_.data(), save_inv_var_.data()),
          "cudnnBatchNormalizationBackward");
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>& buffers) override {
    p_.collect(prefix, params, buffers);
  }

 private:
  BatchNormSpec spec_;
  NormParams p_;
  DeviceParam w_, b_;
  DeviceArray mean_dev_, var_dev_, save_mean_, save_inv_var_;
  TensorDesc x_desc_, bn_desc_;
  Shape in_;
  bool trained_ = false;
  const float* x_ = nullptr;
  DeviceArray y_, dx_, dmasked_;
};

}  // namespace

ModulePtr make_batch_norm(const BatchNormSpec& spec) { return std::make_unique<BatchNorm>(spec); }

}  // namespace ft::nn::cuda

// BatchNorm2d / BatchNorm1d ((N, C, 1, 1)) on cuDNN's spatial mode (see layers.cuh), with the
// optional fused ReLU as an own kernel. SyncBatchNorm (a ChannelSum given): per-channel double sums
// by own kernels (one block per channel, a fixed tree: repeatable), summed over the processes on
// the host through the ChannelSum (NCCL stages them on the layers' stream), the normalisation by
// cuDNN's inference call with the global statistics, dx by an own kernel; the per-channel
// arithmetic is kernels/nn/batch_norm_sync.hpp's, shared with the CPU layer.
#include <memory>
#include <vector>

#include "kernels/nn/batch_norm_sync.hpp"
#include "kernels/nn/cuda/batch_norm_sync.cuh"
#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"

namespace ft::nn::cuda {
namespace {

// ---- BatchNorm (cuDNN spatial mode; BatchNorm1d is (N, C, 1, 1)) -------------------------------
// cuDNN updates the running variance with the unbiased batch variance and the factor `momentum`,
// PyTorch's rule. num_batches_tracked stays on the host (it is a counter, not a tensor op).
class BatchNorm final : public Module {
 public:
  BatchNorm(const BatchNormSpec& spec, std::shared_ptr<const ChannelSum> sync)
      : spec_(spec), sync_(std::move(sync)) {
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
    if (sync_) {
      static_assert(sizeof(BatchNormInputGrad) == 5 * sizeof(float));
      sums_.assign(2 * c + 1, 0.0);
      stats_.assign(4 * c, 0.f);
      gamma_.assign(c, 0.f);
      grad_.resize(c);
      sums_dev_.resize(4 * c);  // 2c doubles
      stats_dev_.resize(4 * c);
      grad_dev_.resize(5 * c);
    }
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
    if (training && sync_) {
      global_batch_stats(x);
      check(cudnnBatchNormalizationForwardInference(
                rt.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x_desc_.get(), x, x_desc_.get(),
                y_.data(), bn_desc_.get(), w_.value.data(), b_.value.data(), stats_dev_.data(),
                stats_dev_.data() + spec_.channels, spec_.eps),
            "cudnnBatchNormalizationForwardInference");
      p_.num_batches_tracked.value[0] += 1.f;
    } else if (training) {
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
    if (sync_) return sync_backward(dy);
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
  std::int64_t pixels() const { return std::int64_t{in_.h} * in_.w; }
  double* sums_dev() const { return reinterpret_cast<double*>(sums_dev_.data()); }

  // Downloads the 2C sums of sums_dev_ into sums_ and adds them up over the processes.
  void allreduce_sums(std::size_t extra_value) {
    const auto c = static_cast<std::size_t>(spec_.channels);
    download(reinterpret_cast<float*>(sums_.data()), sums_dev_.data(), 4 * c);
    sync_->allreduce(sums_.data(), 2 * c + extra_value);
  }

  // SyncBatchNorm forward: stats_dev_ = (mean, biased var, invstd, unbiased var) of the global
  // batch; the running statistics updated from them.
  void global_batch_stats(const float* x) {
    Runtime& rt = runtime();
    const int c = spec_.channels;
    bn_channel_sums<<<c, kBnStatThreads, 0, rt.stream>>>(sums_dev(), x, nullptr, nullptr, nullptr,
                                                         c, pixels(), in_.n);
    check_launch("bn_channel_sums");
    sums_[2 * c] = static_cast<double>(in_.n) * pixels();
    allreduce_sums(1);
    count_ = sums_[2 * c];
    for (int k = 0; k < c; ++k) {
      const ChannelStats st = channel_stats(count_, sums_[k], sums_[c + k]);
      stats_[k] = st.mean;
      stats_[c + k] = st.var;
      stats_[2 * c + k] = inv_std(st.var, spec_.eps);
      stats_[3 * c + k] = static_cast<float>(st.unbiased_var);
    }
    upload(stats_dev_.data(), stats_.data(), stats_.size());
    bn_update_running<<<blocks_for(c), kThreads, 0, rt.stream>>>(
        mean_dev_.data(), var_dev_.data(), stats_dev_.data(), c, spec_.momentum);
    check_launch("bn_update_running");
  }

  // SyncBatchNorm backward (dy already masked by the ReLU): dgamma, dbeta from this process's
  // samples; dx from the global sums of dy' and dy' * x_hat.
  const float* sync_backward(const float* dy) {
    Runtime& rt = runtime();
    const int c = spec_.channels;
    const float* st = stats_dev_.data();
    bn_channel_sums<<<c, kBnStatThreads, 0, rt.stream>>>(sums_dev(), dy, x_, st, st + 2 * c, c,
                                                         pixels(), in_.n);
    check_launch("bn_channel_sums");
    bn_add_local_grads<<<blocks_for(c), kThreads, 0, rt.stream>>>(w_.grad.data(), b_.grad.data(),
                                                                  sums_dev(), c);
    check_launch("bn_add_local_grads");
    allreduce_sums(0);
    download(gamma_.data(), w_.value.data(), gamma_.size());
    for (int k = 0; k < c; ++k)
      grad_[k] = batch_norm_input_grad(stats_[k], stats_[c + k], spec_.eps, gamma_[k], count_,
                                       sums_[k], sums_[c + k]);
    upload(grad_dev_.data(), reinterpret_cast<const float*>(grad_.data()), grad_dev_.size());
    bn_sync_input_grad<<<blocks_for(in_.numel()), kThreads, 0, rt.stream>>>(
        dx_.data(), x_, dy, reinterpret_cast<const BatchNormInputGrad*>(grad_dev_.data()), c,
        pixels(), in_.numel());
    check_launch("bn_sync_input_grad");
    return dx_.data();
  }

  BatchNormSpec spec_;
  std::shared_ptr<const ChannelSum> sync_;  // SyncBatchNorm; null: this process's statistics
  NormParams p_;
  DeviceParam w_, b_;
  DeviceArray mean_dev_, var_dev_, save_mean_, save_inv_var_;
  TensorDesc x_desc_, bn_desc_;
  Shape in_;
  bool trained_ = false;
  const float* x_ = nullptr;
  DeviceArray y_, dx_, dmasked_;
  // SyncBatchNorm: per-channel sums (2C doubles + the count), global statistics, dx's coefficients.
  DeviceArray sums_dev_, stats_dev_, grad_dev_;
  std::vector<double> sums_;
  std::vector<float> stats_, gamma_;
  std::vector<BatchNormInputGrad> grad_;
  double count_ = 0;
};

}  // namespace

ModulePtr make_batch_norm(const BatchNormSpec& spec) {
  return std::make_unique<BatchNorm>(spec, nullptr);
}

ModulePtr make_sync_batch_norm(const BatchNormSpec& spec, std::shared_ptr<const ChannelSum> sums) {
  if (!sums) throw std::invalid_argument("batch_norm (cuda): SyncBatchNorm needs a ChannelSum");
  return std::make_unique<BatchNorm>(spec, std::move(sums));
}

}  // namespace ft::nn::cuda

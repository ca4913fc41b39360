// BatchNorm2d (N,C,H,W) and BatchNorm1d (N,C) on the CPU with oneDNN batch-normalisation
// primitives in the input's layout, optionally with the following ReLU fused. Training
// normalises with the biased batch variance; the running variance takes the unbiased one
// (PyTorch's rule), updated here from the primitive's mean/variance outputs. src, dst and their
// gradients have the input's type (bf16 after a bf16 convolution: oneDNN computes in f32 inside);
// scale, shift, statistics and their gradients are f32. With a ChannelSum (SyncBatchNorm) training
// takes the global batch's statistics from all-reduced per-channel sums and normalises with them
// (the inference primitive); its backward is an own loop (cpu/batch_norm_sync.cpp) over the
// all-reduced sums of dy and dy * x_hat.
#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/nn/cpu/batch_norm_sync.hpp"
#include "kernels/nn/cpu/dnnl_memory.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/layer_params.hpp"

namespace ft::nn::cpu {
namespace {

using dnnl::memory;
using flags = dnnl::normalization_flags;

class BatchNorm final : public Module {
 public:
  BatchNorm(const BatchNormSpec& spec, std::shared_ptr<const ChannelSum> sync)
      : spec_(spec), sync_(std::move(sync)) {
    if (spec.channels <= 0) throw std::invalid_argument("batch_norm: channels must be > 0");
    const auto c = static_cast<std::size_t>(spec.channels);
    p_ = NormParams(spec.channels);
    mean_.assign(c, 0.f);
    var_.assign(c, 0.f);
    dscale_.assign(c, 0.f);
    dshift_.assign(c, 0.f);
    if (sync_) {
      sums_.assign(2 * c + 1, 0.0);
      invstd_.assign(c, 0.f);
      input_grad_.resize(c);
    }
  }

  Shape setup(const Shape& in) override {
    if (in.c != spec_.channels)
      throw std::invalid_argument("batch_norm: input " + to_string(in) + " has " +
                                  std::to_string(in.c) + " channels, expected " +
                                  std::to_string(spec_.channels));
    if (in == in_) return in_;
    in_ = in;
    // (N, C) with C % 16 == 0 is the same memory as nChw16c with 1x1 planes, for which oneDNN has a
    // vectorised kernel (its plain-layout kernel is several times slower on BatchNorm1d(4096)).
    Shape as = in;
    if (in.layout == Layout::nchw && in.h == 1 && in.w == 1 && in.c % 16 == 0)
      as.layout = Layout::nChw16c;
    as_ = as;
    const memory::desc md = md_of(as);
    const flags base =
        flags::use_scale | flags::use_shift | (spec_.relu ? flags::fuse_norm_relu : flags::none);
    const auto eps = spec_.eps;
    using bn = dnnl::batch_normalization_forward;
    using bn_b = dnnl::batch_normalization_backward;
    bn::primitive_desc train_pd(bn::desc(dnnl::prop_kind::forward_training, md, eps, base),
                                scratchpad_attr(), engine());
    bn::primitive_desc infer_pd(
        bn::desc(dnnl::prop_kind::forward_inference, md, eps, base | flags::use_global_stats),
        scratchpad_attr(), engine());
    bn_b::primitive_desc bwd_pd(bn_b::desc(dnnl::prop_kind::backward, md, md, eps, base),
                                scratchpad_attr(), engine(), train_pd);
    train_ = bn(train_pd);
    infer_ = bn(infer_pd);
    bwd_ = bn_b(bwd_pd);
    if (!spec_.relu) {  // eval-mode backward (the statistics are constants)
      bn::primitive_desc g_pd(
          bn::desc(dnnl::prop_kind::forward_training, md, eps, base | flags::use_global_stats),
          scratchpad_attr(), engine());
      bn_b::primitive_desc gb_pd(
          bn_b::desc(dnnl::prop_kind::backward, md, md, eps, base | flags::use_global_stats),
          scratchpad_attr(), engine(), g_pd);
      bwd_global_ = bn_b(gb_pd);
    }
    x_mem_ = memory(md, engine(), DNNL_MEMORY_NONE);
    y_mem_ = memory(md, engine(), DNNL_MEMORY_NONE);
    dy_mem_ = memory(md, engine(), DNNL_MEMORY_NONE);
    dx_mem_ = memory(md, engine(), DNNL_MEMORY_NONE);
    c_md_ = plain_md({spec_.channels}, memory::format_tag::x);
    if (spec_.relu) workspace_ = memory(train_pd.workspace_desc(), engine());
    y_.assign(in.buffer_floats(), 0.f);
    dx_.assign(in.buffer_floats(), 0.f);
    return in_;
  }

  const float* forward(const float* x, bool training) override {
    x_ = x;
    training_ = training;
    const std::int64_t m = std::int64_t{in_.n} * in_.h * in_.w;
    if (training && m <= 1)
      throw std::invalid_argument(
          "batch_norm: training needs more than one value per channel, got input " +
          to_string(in_));
    x_mem_.set_data_handle(const_cast<float*>(x));
    y_mem_.set_data_handle(y_.data());
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, x_mem_},
                                         {DNNL_ARG_DST, y_mem_},
                                         {DNNL_ARG_SCALE, wrap(p_.weight.value.data())},
                                         {DNNL_ARG_SHIFT, wrap(p_.bias.value.data())}};
    if (training && sync_) {
      global_batch_stats(x);
      args.emplace(DNNL_ARG_MEAN, wrap(mean_.data()));
      args.emplace(DNNL_ARG_VARIANCE, wrap(var_.data()));
      execute(infer_, args);
    } else if (training) {
      args.emplace(DNNL_ARG_MEAN, wrap(mean_.data()));
      args.emplace(DNNL_ARG_VARIANCE, wrap(var_.data()));
      if (spec_.relu) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
      execute(train_, args);
      stream().wait();
      const float mom = spec_.momentum, unbias = float(double(m) / double(m - 1));
      for (int c = 0; c < spec_.channels; ++c) {
        p_.running_mean.value[c] = (1 - mom) * p_.running_mean.value[c] + mom * mean_[c];
        p_.running_var.value[c] = (1 - mom) * p_.running_var.value[c] + mom * var_[c] * unbias;
      }
    } else {
      args.emplace(DNNL_ARG_MEAN, wrap(p_.running_mean.value.data()));
      args.emplace(DNNL_ARG_VARIANCE, wrap(p_.running_var.value.data()));
      execute(infer_, args);
    }
    stream().wait();
    if (training) p_.num_batches_tracked.value[0] += 1.f;
    return y_.data();
  }

  const float* backward(const float* dy) override {
    if (!training_ && spec_.relu)
      throw std::logic_error(
          "batch_norm: backward after an eval-mode forward is not supported with fused ReLU");
    if (training_ && sync_) return sync_backward(dy);
    dy_mem_.set_data_handle(const_cast<float*>(dy));
    dx_mem_.set_data_handle(dx_.data());
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, x_mem_},
        {DNNL_ARG_DIFF_DST, dy_mem_},
        {DNNL_ARG_SCALE, wrap(p_.weight.value.data())},
        {DNNL_ARG_SHIFT, wrap(p_.bias.value.data())},
        {DNNL_ARG_MEAN, wrap(training_ ? mean_.data() : p_.running_mean.value.data())},
        {DNNL_ARG_VARIANCE, wrap(training_ ? var_.data() : p_.running_var.value.data())},
        {DNNL_ARG_DIFF_SRC, dx_mem_},
        {DNNL_ARG_DIFF_SCALE, wrap(dscale_.data())},
        {DNNL_ARG_DIFF_SHIFT, wrap(dshift_.data())}};
    if (spec_.relu) args.emplace(DNNL_ARG_WORKSPACE, workspace_);
    execute(training_ ? bwd_ : bwd_global_, args);
    stream().wait();
    for (int c = 0; c < spec_.channels; ++c) {
      p_.weight.grad[c] += dscale_[c];
      p_.bias.grad[c] += dshift_[c];
    }
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>& buffers) override {
    p_.collect(prefix, params, buffers);
  }

 private:
  memory wrap(float* p) const { return memory(c_md_, engine(), p); }

  // SyncBatchNorm forward: mean_ and var_ (biased) of the global batch; running statistics.
  void global_batch_stats(const float* x) {
    const int c = spec_.channels;
    channel_sums(sums_.data(), x, as_);
    sums_[2 * c] = static_cast<double>(in_.n) * in_.h * in_.w;
    sync_->allreduce(sums_.data(), sums_.size());
    count_ = sums_[2 * c];
    for (int k = 0; k < c; ++k) {
      const ChannelStats st = channel_stats(count_, sums_[k], sums_[c + k]);
      mean_[k] = st.mean;
      var_[k] = st.var;
      float& rm = p_.running_mean.value[k];
      float& rv = p_.running_var.value[k];
      rm = running_update(rm, st.mean, spec_.momentum);
      rv = running_update(rv, static_cast<float>(st.unbiased_var), spec_.momentum);
    }
  }

  // SyncBatchNorm backward: dgamma, dbeta from this process's samples (the gradient all-reduce
  // averages them, as for every parameter); dx from the global sums of dy' and dy' * x_hat.
  const float* sync_backward(const float* dy) {
    const int c = spec_.channels;
    for (int k = 0; k < c; ++k) invstd_[k] = inv_std(var_[k], spec_.eps);
    channel_grad_sums(sums_.data(), x_, y_.data(), dy, spec_.relu, mean_.data(), invstd_.data(),
                      as_);
    for (int k = 0; k < c; ++k) {
      p_.weight.grad[k] += static_cast<float>(sums_[c + k]);
      p_.bias.grad[k] += static_cast<float>(sums_[k]);
    }
    sync_->allreduce(sums_.data(), 2 * static_cast<std::size_t>(c));
    for (int k = 0; k < c; ++k)
      input_grad_[k] = batch_norm_input_grad(mean_[k], var_[k], spec_.eps, p_.weight.value[k],
                                             count_, sums_[k], sums_[c + k]);
    sync_input_grad(dx_.data(), x_, y_.data(), dy, spec_.relu, input_grad_.data(), as_);
    return dx_.data();
  }

  BatchNormSpec spec_;
  std::shared_ptr<const ChannelSum> sync_;  // SyncBatchNorm; null: this process's statistics
  NormParams p_;
  Shape in_, as_;  // as_: the layout the primitives and loops see (1-D BN may run as nChw16c)
  bool training_ = false;
  const float* x_ = nullptr;
  dnnl::batch_normalization_forward train_, infer_;
  dnnl::batch_normalization_backward bwd_, bwd_global_;
  memory x_mem_, y_mem_, dy_mem_, dx_mem_, workspace_;
  memory::desc c_md_;          // (C) vectors: scale, shift, mean, variance and their gradients
  std::vector<float> y_, dx_;  // in the input's layout and type
  std::vector<float> mean_, var_, dscale_, dshift_;  // (C): batch statistics, parameter grads
  // SyncBatchNorm: (2C + 1) sums being all-reduced, the global count, 1/std, dx's coefficients.
  std::vector<double> sums_;
  double count_ = 0;
  std::vector<float> invstd_;
  std::vector<BatchNormInputGrad> input_grad_;
};

}  // namespace

ModulePtr make_batch_norm(const BatchNormSpec& spec) {
  return std::make_unique<BatchNorm>(spec, nullptr);
}

ModulePtr make_sync_batch_norm(const BatchNormSpec& spec, std::shared_ptr<const ChannelSum> sums) {
  if (!sums) throw std::invalid_argument("batch_norm: SyncBatchNorm needs a ChannelSum");
  return std::make_unique<BatchNorm>(spec, std::move(sums));
}

}  // namespace ft::nn::cpu

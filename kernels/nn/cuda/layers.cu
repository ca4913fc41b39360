// The CUDA layers behind cuda_layers(): convolutions and batch norm on cuDNN, Linear on cuBLAS,
// the rest as own kernels (kernels.cuh, checked against the CPU layers under a host emulation).
// Every tensor is NCHW float in device memory; parameters live on the device (Parameter::
// device_value / device_grad) with the host vectors as mirrors (Model::to_host / to_device).
// Backward accumulates parameter gradients (beta = 1), as the Module interface requires.
#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/runtime.cuh"
#include "kernels/nn/layer_params.hpp"
#include "kernels/nn/module.hpp"

namespace ft::nn::cuda {
namespace {

const float kOne = 1.0f, kZero = 0.0f;

// A Parameter's device storage, attached to it.
struct DeviceParam {
  DeviceArray value, grad;
  void attach(Parameter& p) {
    value.resize(p.value.size());
    grad.resize(p.value.size());
    p.device_value = value.data();
    p.device_grad = grad.data();
  }
};

class TensorDesc {
 public:
  TensorDesc() { check(cudnnCreateTensorDescriptor(&d_), "cudnnCreateTensorDescriptor"); }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d_); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  void set(int n, int c, int h, int w) {
    check(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w), "cudnnSetTensor4dDescriptor");
  }
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

void require_nchw(const Shape& in, const char* layer) {
  if (in.layout != Layout::nchw) throw std::invalid_argument(std::string(layer) + " (cuda): needs NCHW, got " + to_string(in));
}

bool uses_tensor_ops(cudnnMathType_t m) {
  return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// The fastest algorithm cuDNN's heuristics list that succeeds, preferring deterministic ones
// (so a run repeats bit for bit) and, unless TF32 is allowed, one without tensor-op math. `math`
// gets the math type to set on the descriptor when running it: the listed one, except that
// CUDNN_DEFAULT_MATH (which permits TF32 on Ampere and later) runs as CUDNN_FMA_MATH when TF32 is
// off. CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION is never taken: for float data it lets cuDNN
// down-convert to FP16 (range and precision loss well beyond TF32).
template <class Perf>
Perf pick(const Perf* perf, int count, const char* what, cudnnMathType_t& math) {
  for (int pass = 0; pass < 2; ++pass)
    for (int i = 0; i < count; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
      if (pass == 0 && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
      if (perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
      if (!allow_tf32() && uses_tensor_ops(perf[i].mathType)) continue;
      math = allow_tf32() || perf[i].mathType != CUDNN_DEFAULT_MATH ? perf[i].mathType : CUDNN_FMA_MATH;
      return perf[i];
    }
  throw std::runtime_error(std::string("cuDNN offers no ") + what + " algorithm for this convolution" +
                           (allow_tf32() ? "" : " without TF32"));
}

// ---- Conv2d (cuDNN) ---------------------------------------------------------------------------
class Conv2d final : public Module {
 public:
  explicit Conv2d(const Conv2dSpec& spec) : spec_(spec) {
    if (spec.in_channels <= 0 || spec.out_channels <= 0 || spec.kernel <= 0 || spec.stride <= 0 || spec.groups <= 0 ||
        spec.in_channels % spec.groups || spec.out_channels % spec.groups)
      throw std::invalid_argument("conv2d (cuda): bad channels/kernel/stride/groups");
    const int ext = spec.dilation * (spec.kernel - 1);
    if (spec.same_padding && (spec.stride != 1 || ext % 2))
      throw std::invalid_argument("conv2d (cuda): padding=\"same\" needs stride 1 and an odd kernel extent (cuDNN pads "
                                  "symmetrically)");
    pad_ = spec.same_padding ? ext / 2 : spec.padding;
    p_ = WeightBias({spec.out_channels, spec.in_channels / spec.groups, spec.kernel, spec.kernel}, spec.bias);
    w_.attach(p_.weight);
    if (spec.bias) b_.attach(p_.bias);
    check(cudnnCreateFilterDescriptor(&filter_), "cudnnCreateFilterDescriptor");
    check(cudnnSetFilter4dDescriptor(filter_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, spec.out_channels,
                                     spec.in_channels / spec.groups, spec.kernel, spec.kernel),
          "cudnnSetFilter4dDescriptor");
    check(cudnnCreateConvolutionDescriptor(&conv_), "cudnnCreateConvolutionDescriptor");
    check(cudnnSetConvolution2dDescriptor(conv_, pad_, pad_, spec.stride, spec.stride, spec.dilation, spec.dilation,
                                          CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
          "cudnnSetConvolution2dDescriptor");
    check(cudnnSetConvolutionGroupCount(conv_, spec.groups), "cudnnSetConvolutionGroupCount");
  }
  ~Conv2d() override {
    cudnnDestroyFilterDescriptor(filter_);
    cudnnDestroyConvolutionDescriptor(conv_);
  }

  Shape setup(const Shape& in) override {
    if (in == in_ && built_) return out_;
    require_nchw(in, "conv2d");
    if (in.c != spec_.in_channels)
      throw std::invalid_argument("conv2d (cuda): input " + to_string(in) + " has " + std::to_string(in.c) +
                                  " channels, expected " + std::to_string(spec_.in_channels));
    const int ext = spec_.dilation * (spec_.kernel - 1);
    const int oh = (in.h + 2 * pad_ - ext - 1) / spec_.stride + 1, ow = (in.w + 2 * pad_ - ext - 1) / spec_.stride + 1;
    if (oh <= 0 || ow <= 0) throw std::invalid_argument("conv2d (cuda): input " + to_string(in) + " too small");
    in_ = in;
    out_ = Shape{in.n, spec_.out_channels, oh, ow, Layout::nchw};
    x_desc_.set(in.n, in.c, in.h, in.w);
    y_desc_.set(in.n, out_.c, oh, ow);
    // What the heuristics may list: tensor-op (TF32) kernels only when allowed. DEFAULT_MATH, as
    // PyTorch sets for float with allow_tf32: TF32 on Ampere and later, never an FP16 conversion.
    check(cudnnSetConvolutionMathType(conv_, allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
          "cudnnSetConvolutionMathType");
    Runtime& rt = runtime();
    constexpr int kMax = 16;
    int got = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
    check(cudnnGetConvolutionForwardAlgorithm_v7(rt.dnn, x_desc_.get(), filter_, conv_, y_desc_.get(), kMax, &got, fwd),
          "cudnnGetConvolutionForwardAlgorithm_v7");
    const auto f = pick(fwd, got, "forward", fwd_math_);
    cudnnConvolutionBwdDataAlgoPerf_t bwd_data[kMax];
    check(cudnnGetConvolutionBackwardDataAlgorithm_v7(rt.dnn, filter_, y_desc_.get(), conv_, x_desc_.get(), kMax, &got,
                                                      bwd_data),
          "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    const auto d = pick(bwd_data, got, "backward-data", data_math_);
    cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[kMax];
    check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(rt.dnn, x_desc_.get(), y_desc_.get(), conv_, filter_, kMax, &got,
                                                        bwd_filter),
          "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    const auto w = pick(bwd_filter, got, "backward-filter", filter_math_);
    fwd_algo_ = f.algo;
    data_algo_ = d.algo;
    filter_algo_ = w.algo;
    fwd_ws_ = f.memory;
    data_ws_ = d.memory;
    filter_ws_ = w.memory;
    y_.resize(static_cast<std::size_t>(out_.numel()));
    if (input_grad_) dx_.resize(static_cast<std::size_t>(in.numel()));
    built_ = true;
    return out_;
  }

  const float* forward(const float* x, bool) override {
    x_ = x;
    Runtime& rt = runtime();
    void* ws = workspace(fwd_ws_);
    check(cudnnSetConvolutionMathType(conv_, fwd_math_), "cudnnSetConvolutionMathType");
    check(cudnnConvolutionForward(rt.dnn, &kOne, x_desc_.get(), x, filter_, w_.value.data(), conv_, fwd_algo_, ws, fwd_ws_,
                                  &kZero, y_desc_.get(), y_.data()),
          "cudnnConvolutionForward");
    if (spec_.bias) {
      const std::int64_t planes = std::int64_t{out_.n} * out_.c;
      add_bias_channels<<<blocks_for(out_.numel()), kThreads, 0, rt.stream>>>(y_.data(), b_.value.data(), planes, out_.c,
                                                                             out_.h * out_.w);
      check_launch("add_bias_channels");
    }
    return y_.data();
  }

  const float* backward(const float* dy) override {
    Runtime& rt = runtime();
    if (spec_.bias) {
      // One block per channel (the kernel's tree reduction needs kThreads, a power of two).
      const auto blocks = static_cast<unsigned>(std::min(out_.c, 4096));
      channel_sums_accumulate<<<blocks, kThreads, 0, rt.stream>>>(b_.grad.data(), dy, out_.n, out_.c, out_.h * out_.w);
      check_launch("channel_sums_accumulate");
    }
    void* ws = workspace(filter_ws_);
    check(cudnnSetConvolutionMathType(conv_, filter_math_), "cudnnSetConvolutionMathType");
    check(cudnnConvolutionBackwardFilter(rt.dnn, &kOne, x_desc_.get(), x_, y_desc_.get(), dy, conv_, filter_algo_, ws,
                                         filter_ws_, &kOne, filter_, w_.grad.data()),
          "cudnnConvolutionBackwardFilter");
    if (!input_grad_) return nullptr;
    ws = workspace(data_ws_);
    check(cudnnSetConvolutionMathType(conv_, data_math_), "cudnnSetConvolutionMathType");
    check(cudnnConvolutionBackwardData(rt.dnn, &kOne, filter_, w_.value.data(), y_desc_.get(), dy, conv_, data_algo_, ws,
                                       data_ws_, &kZero, x_desc_.get(), dx_.data()),
          "cudnnConvolutionBackwardData");
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params, std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }
  void skip_input_grad() override { input_grad_ = false; }

 private:
  Conv2dSpec spec_;
  int pad_ = 0;
  WeightBias p_;
  DeviceParam w_, b_;
  cudnnFilterDescriptor_t filter_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  TensorDesc x_desc_, y_desc_;
  cudnnConvolutionFwdAlgo_t fwd_algo_{};
  cudnnConvolutionBwdDataAlgo_t data_algo_{};
  cudnnConvolutionBwdFilterAlgo_t filter_algo_{};
  cudnnMathType_t fwd_math_ = CUDNN_FMA_MATH, data_math_ = CUDNN_FMA_MATH, filter_math_ = CUDNN_FMA_MATH;
  std::size_t fwd_ws_ = 0, data_ws_ = 0, filter_ws_ = 0;
  Shape in_, out_;
  bool built_ = false, input_grad_ = true;
  const float* x_ = nullptr;
  DeviceArray y_, dx_;
};

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
      throw std::invalid_argument("batch_norm (cuda): input " + to_string(in) + " has " + std::to_string(in.c) +
                                  " channels, expected " + std::to_string(spec_.channels));
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
    if (training) {
      check(cudnnBatchNormalizationForwardTraining(rt.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x_desc_.get(), x,
                                                   x_desc_.get(), y_.data(), bn_desc_.get(), w_.value.data(),
                                                   b_.value.data(), spec_.momentum, mean_dev_.data(), var_dev_.data(),
                                                   spec_.eps, save_mean_.data(), save_inv_var_.data()),
            "cudnnBatchNormalizationForwardTraining");
      p_.num_batches_tracked.value[0] += 1.f;
    } else {
      check(cudnnBatchNormalizationForwardInference(rt.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, x_desc_.get(), x,
                                                    x_desc_.get(), y_.data(), bn_desc_.get(), w_.value.data(),
                                                    b_.value.data(), mean_dev_.data(), var_dev_.data(), spec_.eps),
            "cudnnBatchNormalizationForwardInference");
    }
    if (spec_.relu) {
      relu_forward<<<blocks_for(in_.numel()), kThreads, 0, rt.stream>>>(y_.data(), y_.data(), in_.numel());
      check_launch("relu_forward");
    }
    return y_.data();
  }

  const float* backward(const float* dy) override {
    if (!trained_) throw std::logic_error("batch_norm (cuda): backward after an eval-mode forward is not supported");
    Runtime& rt = runtime();
    if (spec_.relu) {
      relu_backward<<<blocks_for(in_.numel()), kThreads, 0, rt.stream>>>(dmasked_.data(), y_.data(), dy, in_.numel());
      check_launch("relu_backward");
      dy = dmasked_.data();
    }
    check(cudnnBatchNormalizationBackward(rt.dnn, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, &kOne, &kOne, x_desc_.get(), x_,
                                          x_desc_.get(), dy, x_desc_.get(), dx_.data(), bn_desc_.get(), w_.value.data(),
                                          w_.grad.data(), b_.grad.data(), spec_.eps, save_mean_.data(),
                                          save_inv_var_.data()),
          "cudnnBatchNormalizationBackward");
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params, std::vector<Buffer*>& buffers) override {
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

// ---- Linear (cuBLAS; row-major (N, in) x (out, in)^T as column-major GEMMs) --------------------
class Linear final : public Module {
 public:
  explicit Linear(const LinearSpec& spec) : spec_(spec) {
    if (spec.in_features <= 0 || spec.out_features <= 0) throw std::invalid_argument("linear (cuda): bad features");
    p_ = WeightBias({spec.out_features, spec.in_features}, spec.bias);
    w_.attach(p_.weight);
    if (spec.bias) b_.attach(p_.bias);
  }

  Shape setup(const Shape& in) override {
    require_nchw(in, "linear");
    if (in.per_sample() != spec_.in_features)
      throw std::invalid_argument("linear (cuda): input " + to_string(in) + " has " + std::to_string(in.per_sample()) +
                                  " features per sample, expected " + std::to_string(spec_.in_features));
    if (in == in_) return out_;
    in_ = in;
    out_ = Shape{in.n, spec_.out_features, 1, 1};
    y_.resize(static_cast<std::size_t>(out_.numel()));
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return out_;
  }

  const float* forward(const float* x, bool) override {
    Runtime& rt = runtime();
    x_ = x;
    const int n = in_.n, in = spec_.in_features, out = spec_.out_features;
    // Y (out x n, column-major) = W^T' (W stored column-major as in x out, transposed) * X (in x n)
    check(cublasSgemm(rt.blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &kOne, w_.value.data(), in, x, in, &kZero, y_.data(),
                      out),
          "cublasSgemm (linear forward)");
    if (spec_.bias) {
      add_bias_rows<<<blocks_for(out_.numel()), kThreads, 0, rt.stream>>>(y_.data(), b_.value.data(), n, out);
      check_launch("add_bias_rows");
    }
    return y_.data();
  }

  const float* backward(const float* dy) override {
    Runtime& rt = runtime();
    const int n = in_.n, in = spec_.in_features, out = spec_.out_features;
    if (spec_.bias) {
      column_sums_accumulate<<<blocks_for(out), kThreads, 0, rt.stream>>>(b_.grad.data(), dy, n, out);
      check_launch("column_sums_accumulate");
    }
    // dW^T (in x out) += X (in x n) * dY^T (n x out)
    check(cublasSgemm(rt.blas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &kOne, x_, in, dy, out, &kOne, w_.grad.data(), in),
          "cublasSgemm (linear weight grad)");
    // dX (in x n) = W^T-stored (in x out) * dY (out x n)
    check(cublasSgemm(rt.blas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &kOne, w_.value.data(), in, dy, out, &kZero,
                      dx_.data(), in),
          "cublasSgemm (linear input grad)");
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params, std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }

 private:
  LinearSpec spec_;
  WeightBias p_;
  DeviceParam w_, b_;
  Shape in_, out_;
  const float* x_ = nullptr;
  DeviceArray y_, dx_;
};

// ---- own kernels -------------------------------------------------------------------------------
class Relu final : public Module {
 public:
  Shape setup(const Shape& in) override {
    require_nchw(in, "relu");
    in_ = in;
    y_.resize(static_cast<std::size_t>(in.numel()));
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return in;
  }
  const float* forward(const float* x, bool) override {
    relu_forward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(y_.data(), x, in_.numel());
    check_launch("relu_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    relu_backward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(dx_.data(), y_.data(), dy, in_.numel());
    check_launch("relu_backward");
    return dx_.data();
  }

 private:
  Shape in_;
  DeviceArray y_, dx_;
};

class MaxPool final : public Module {
 public:
  explicit MaxPool(const MaxPoolSpec& spec) : spec_(spec) {
    if (spec.kernel <= 0 || spec.stride <= 0 || spec.padding < 0 || 2 * spec.padding > spec.kernel)
      throw std::invalid_argument("max_pool (cuda): bad kernel/stride/padding");
  }
  Shape setup(const Shape& in) override {
    require_nchw(in, "max_pool");
    const int oh = (in.h + 2 * spec_.padding - spec_.kernel) / spec_.stride + 1;
    const int ow = (in.w + 2 * spec_.padding - spec_.kernel) / spec_.stride + 1;
    if (oh <= 0 || ow <= 0) throw std::invalid_argument("max_pool (cuda): input " + to_string(in) + " too small");
    g_ = PoolGeom{in.n, in.c, in.h, in.w, oh, ow, spec_.kernel, spec_.stride, spec_.padding};
    out_ = Shape{in.n, in.c, oh, ow, Layout::nchw};
    in_ = in;
    y_.resize(static_cast<std::size_t>(out_.numel()));
    argmax_.resize(static_cast<std::size_t>(out_.numel()));  // int32 in float-sized slots
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return out_;
  }
  const float* forward(const float* x, bool) override {
    max_pool_forward<<<blocks_for(out_.numel()), kThreads, 0, runtime().stream>>>(
        y_.data(), reinterpret_cast<std::int32_t*>(argmax_.data()), x, g_);
    check_launch("max_pool_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    max_pool_backward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(
        dx_.data(), dy, reinterpret_cast<const std::int32_t*>(argmax_.data()), g_);
    check_launch("max_pool_backward");
    return dx_.data();
  }

 private:
  MaxPoolSpec spec_;
  PoolGeom g_{};
  Shape in_, out_;
  DeviceArray y_, argmax_, dx_;
};

class GlobalAvgPool final : public Module {
 public:
  Shape setup(const Shape& in) override {
    require_nchw(in, "global_avg_pool");
    in_ = in;
    y_.resize(static_cast<std::size_t>(std::int64_t{in.n} * in.c));
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return Shape{in.n, in.c, 1, 1, Layout::nchw};
  }
  const float* forward(const float* x, bool) override {
    const std::int64_t nc = std::int64_t{in_.n} * in_.c;
    global_avg_pool_forward<<<blocks_for(nc), kThreads, 0, runtime().stream>>>(y_.data(), x, nc, in_.h * in_.w);
    check_launch("global_avg_pool_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    const std::int64_t nc = std::int64_t{in_.n} * in_.c;
    global_avg_pool_backward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(dx_.data(), dy, nc,
                                                                                        in_.h * in_.w);
    check_launch("global_avg_pool_backward");
    return dx_.data();
  }

 private:
  Shape in_;
  DeviceArray y_, dx_;
};

// NCHW tensors are already flat per sample: (N, C, H, W) -> (N, C*H*W, 1, 1) moves no data.
class Flatten final : public Module {
 public:
  Shape setup(const Shape& in) override {
    require_nchw(in, "flatten");
    return Shape{in.n, static_cast<int>(in.per_sample()), 1, 1, Layout::nchw};
  }
  const float* forward(const float* x, bool) override { return x; }
  const float* backward(const float* dy) override { return dy; }
};

// Every CUDA layer keeps NCHW, so a layout change is the identity (only NCHW is accepted).
class ToLayout final : public Module {
 public:
  explicit ToLayout(Layout layout) : layout_(layout) {}
  Shape setup(const Shape& in) override {
    if (layout_ != Layout::nchw || in.layout != Layout::nchw)
      throw std::invalid_argument("to_layout (cuda): CUDA layers use NCHW only, got " + to_string(in));
    return in;
  }
  const float* forward(const float* x, bool) override { return x; }
  const float* backward(const float* dy) override { return dy; }

 private:
  Layout layout_;
};

class Dropout final : public Module {
 public:
  Dropout(float p, int index) : p_(p), index_(index) {
    if (!(p >= 0.f && p <= 1.f)) throw std::invalid_argument("dropout: p must be in [0, 1], got " + std::to_string(p));
  }
  Shape setup(const Shape& in) override {
    require_nchw(in, "dropout");
    in_ = in;
    mask_.resize(static_cast<std::size_t>(in.numel()));
    y_.resize(static_cast<std::size_t>(in.numel()));
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return in;
  }
  void set_dropout_key(std::uint64_t seed, std::uint64_t step) override {
    seed_ = seed;
    step_ = step;
  }
  const float* forward(const float* x, bool training) override {
    training_ = training && p_ > 0.f;
    if (!training_) return x;
    dropout_forward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(
        y_.data(), mask_.data(), x, in_.per_sample(), in_.numel(), p_, seed_, step_, index_);
    check_launch("dropout_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    if (!training_) return dy;
    mul_arrays<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(dx_.data(), dy, mask_.data(), in_.numel());
    check_launch("mul_arrays");
    return dx_.data();
  }

 private:
  float p_;
  int index_;
  std::uint64_t seed_ = 0, step_ = 0;
  bool training_ = false;
  Shape in_;
  DeviceArray mask_, y_, dx_;
};

class ResidualAddCuda final : public ResidualAdd {
 public:
  explicit ResidualAddCuda(bool relu) : relu_(relu) {}
  void setup(const Shape& out, const Shape& in) override {
    require_nchw(out, "residual_add");
    out_ = out;
    in_ = in;
    y_.resize(static_cast<std::size_t>(out.numel()));
    dsum_.resize(static_cast<std::size_t>(out.numel()));
    dx_.resize(static_cast<std::size_t>(in.numel()));
  }
  const float* forward(const float* a, const float* b) override {
    add_forward<<<blocks_for(out_.numel()), kThreads, 0, runtime().stream>>>(y_.data(), a, b, out_.numel(), relu_);
    check_launch("add_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    if (!relu_) return dy;
    relu_backward<<<blocks_for(out_.numel()), kThreads, 0, runtime().stream>>>(dsum_.data(), y_.data(), dy,
                                                                              out_.numel());
    check_launch("relu_backward");
    return dsum_.data();
  }
  const float* sum_input_grads(const float* d1, const float* d2) override {
    add_arrays<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(dx_.data(), d1, d2, in_.numel());
    check_launch("add_arrays");
    return dx_.data();
  }

 private:
  bool relu_;
  Shape out_, in_;
  DeviceArray y_, dsum_, dx_;
};

class CudaLayers final : public LayerFactory {
 public:
  bool on_device() const override { return true; }
  ModulePtr conv2d(const Conv2dSpec& spec) const override { return std::make_unique<Conv2d>(spec); }
  ModulePtr batch_norm(const BatchNormSpec& spec) const override { return std::make_unique<BatchNorm>(spec); }
  ModulePtr linear(const LinearSpec& spec) const override { return std::make_unique<Linear>(spec); }
  ModulePtr relu() const override { return std::make_unique<Relu>(); }
  ModulePtr max_pool(const MaxPoolSpec& spec) const override { return std::make_unique<MaxPool>(spec); }
  ModulePtr global_avg_pool() const override { return std::make_unique<GlobalAvgPool>(); }
  ModulePtr flatten() const override { return std::make_unique<Flatten>(); }
  ModulePtr to_layout(Layout layout) const override { return std::make_unique<ToLayout>(layout); }
  ModulePtr dropout(float p, int index) const override { return std::make_unique<Dropout>(p, index); }
  std::unique_ptr<ResidualAdd> residual_add(bool relu) const override { return std::make_unique<ResidualAddCuda>(relu); }
};

}  // namespace
}  // namespace ft::nn::cuda

namespace ft::nn {

const LayerFactory& cuda_layers() {
  std::string why;
  if (!cuda::available(&why)) throw std::runtime_error("CUDA layers: " + why);
  static const cuda::CudaLayers layers;
  return layers;
}

}  // namespace ft::nn

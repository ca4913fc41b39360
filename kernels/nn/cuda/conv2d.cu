// Conv2d on cuDNN (see layers.cuh): algorithms from cuDNN's heuristics, chosen deterministic and,
// unless TF32 is allowed, without tensor-op math; the descriptor's math type is set per call.
#include <algorithm>
#include <memory>

#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"

namespace ft::nn::cuda {
namespace {

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
      math = allow_tf32() || perf[i].mathType != CUDNN_DEFAULT_MATH ? perf[i].mathType
                                                                    : CUDNN_FMA_MATH;
      return perf[i];
    }
  throw std::runtime_error(std::string("cuDNN offers no ") + what +
                           " algorithm for this convolution" +
                           (allow_tf32() ? "" : " without TF32"));
}

// ---- Conv2d (cuDNN) ---------------------------------------------------------------------------
class Conv2d final : public Module {
 public:
  explicit Conv2d(const Conv2dSpec& spec) : spec_(spec) {
    if (spec.in_channels <= 0 || spec.out_channels <= 0 || spec.kernel <= 0 || spec.stride <= 0 ||
        spec.groups <= 0 || spec.in_channels % spec.groups || spec.out_channels % spec.groups)
      throw std::invalid_argument("conv2d (cuda): bad channels/kernel/stride/groups");
    const int ext = spec.dilation * (spec.kernel - 1);
    if (spec.same_padding && (spec.stride != 1 || ext % 2))
      throw std::invalid_argument(
          "conv2d (cuda): padding=\"same\" needs stride 1 and an odd kernel extent (cuDNN pads "
          "symmetrically)");
    pad_ = spec.same_padding ? ext / 2 : spec.padding;
    p_ = WeightBias({spec.out_channels, spec.in_channels / spec.groups, spec.kernel, spec.kernel},
                    spec.bias);
    w_.attach(p_.weight);
    if (spec.bias) b_.attach(p_.bias);
    check(cudnnCreateFilterDescriptor(&filter_), "cudnnCreateFilterDescriptor");
    check(
        cudnnSetFilter4dDescriptor(filter_, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, spec.out_channels,
                                   spec.in_channels / spec.groups, spec.kernel, spec.kernel),
        "cudnnSetFilter4dDescriptor");
    check(cudnnCreateConvolutionDescriptor(&conv_), "cudnnCreateConvolutionDescriptor");
    check(
        cudnnSetConvolution2dDescriptor(conv_, pad_, pad_, spec.stride, spec.stride, spec.dilation,
                                        spec.dilation, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
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
      throw std::invalid_argument("conv2d (cuda): input " + to_string(in) + " has " +
                                  std::to_string(in.c) + " channels, expected " +
                                  std::to_string(spec_.in_channels));
    const int ext = spec_.dilation * (spec_.kernel - 1);
    const int oh = (in.h + 2 * pad_ - ext - 1) / spec_.stride + 1,
              ow = (in.w + 2 * pad_ - ext - 1) / spec_.stride + 1;
    if (oh <= 0 || ow <= 0)
      throw std::invalid_argument("conv2d (cuda): input " + to_string(in) + " too small");
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
    check(cudnnGetConvolutionForwardAlgorithm_v7(rt.dnn, x_desc_.get(), filter_, conv_,
                                                 y_desc_.get(), kMax, &got, fwd),
          "cudnnGetConvolutionForwardAlgorithm_v7");
    const auto f = pick(fwd, got, "forward", fwd_math_);
    cudnnConvolutionBwdDataAlgoPerf_t bwd_data[kMax];
    check(cudnnGetConvolutionBackwardDataAlgorithm_v7(rt.dnn, filter_, y_desc_.get(), conv_,
                                                      x_desc_.get(), kMax, &got, bwd_data),
          "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    const auto d = pick(bwd_data, got, "backward-data", data_math_);
    cudnnConvolutionBwdFilterAlgoPerf_t bwd_filter[kMax];
    check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(rt.dnn, x_desc_.get(), y_desc_.get(), conv_,
                                                        filter_, kMax, &got, bwd_filter),
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
    check(cudnnConvolutionForward(rt.dnn, &kOne, x_desc_.get(), x, filter_, w_.value.data(), conv_,
                                  fwd_algo_, ws, fwd_ws_, &kZero, y_desc_.get(), y_.data()),
          "cudnnConvolutionForward");
    if (spec_.bias) {
      const std::int64_t planes = std::int64_t{out_.n} * out_.c;
      add_bias_channels<<<blocks_for(out_.numel()), kThreads, 0, rt.stream>>>(
          y_.data(), b_.value.data(), planes, out_.c, out_.h * out_.w);
      check_launch("add_bias_channels");
    }
    return y_.data();
  }

  const float* backward(const float* dy) override {
    Runtime& rt = runtime();
    if (spec_.bias) {
      // One block per channel (the kernel's tree reduction needs kThreads, a power of two).
      const auto blocks = static_cast<unsigned>(std::min(out_.c, 4096));
      channel_sums_accumulate<<<blocks, kThreads, 0, rt.stream>>>(b_.grad.data(), dy, out_.n,
                                                                  out_.c, out_.h * out_.w);
      check_launch("channel_sums_accumulate");
    }
    void* ws = workspace(filter_ws_);
    check(cudnnSetConvolutionMathType(conv_, filter_math_), "cudnnSetConvolutionMathType");
    check(cudnnConvolutionBackwardFilter(rt.dnn, &kOne, x_desc_.get(), x_, y_desc_.get(), dy, conv_,
                                         filter_algo_, ws, filter_ws_, &kOne, filter_,
                                         w_.grad.data()),
          "cudnnConvolutionBackwardFilter");
    if (!input_grad_) return nullptr;
    ws = workspace(data_ws_);
    check(cudnnSetConvolutionMathType(conv_, data_math_), "cudnnSetConvolutionMathType");
    check(cudnnConvolutionBackwardData(rt.dnn, &kOne, filter_, w_.value.data(), y_desc_.get(), dy,
                                       conv_, data_algo_, ws, data_ws_, &kZero, x_desc_.get(),
                                       dx_.data()),
          "cudnnConvolutionBackwardData");
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
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
  cudnnMathType_t fwd_math_ = CUDNN_FMA_MATH, data_math_ = CUDNN_FMA_MATH,
                  filter_math_ = CUDNN_FMA_MATH;
  std::size_t fwd_ws_ = 0, data_ws_ = 0, filter_ws_ = 0;
  Shape in_, out_;
  bool built_ = false, input_grad_ = true;
  const float* x_ = nullptr;
  DeviceArray y_, dx_;
};

}  // namespace

ModulePtr make_conv2d(const Conv2dSpec& spec) { return std::make_unique<Conv2d>(spec); }

}  // namespace ft::nn::cuda

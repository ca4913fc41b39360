// Conv2d on cuDNN (see layers.cuh). Per input shape, each pass (forward, backward-data,
// backward-filter) keeps cuDNN's heuristic list ranked as conv_algorithms.hpp says (deterministic
// first; tensor-op math only with TF32) and runs the first that works, falling back to the next
// when one fails at execution. Backward-data is neither planned nor run for a convolution whose
// input needs no gradient (the network's first).
#include <algorithm>
#include <array>
#include <map>
#include <memory>

#include "kernels/nn/cuda/conv_algorithms.hpp"
#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"
#include "kernels/nn/cuda/reductions.cuh"
#include "kernels/nn/geometry.hpp"

namespace ft::nn::cuda {
namespace {

bool uses_tensor_ops(cudnnMathType_t m) {
  return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// cuDNN's heuristic list for one pass, as conv_algorithms.hpp ranks it. The math type to run an
// algorithm with is the listed one, except that CUDNN_DEFAULT_MATH (which permits TF32 on Ampere
// and later) runs as CUDNN_FMA_MATH when TF32 is off.
template <class Perf>
std::vector<ListedAlgorithm> ranked(const Perf* perf, int count) {
  std::vector<ListedAlgorithm> listed;
  for (int i = 0; i < count; ++i) {
    const Perf& p = perf[i];
    ListedAlgorithm a;
    a.algo = static_cast<int>(p.algo);
    a.math = allow_tf32() || p.mathType != CUDNN_DEFAULT_MATH ? p.mathType : CUDNN_FMA_MATH;
    a.usable = p.status == CUDNN_STATUS_SUCCESS;
    a.deterministic = p.determinism == CUDNN_DETERMINISTIC;
    a.tensor_ops = uses_tensor_ops(p.mathType);
    a.fp16_conversion = p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    a.workspace = p.memory;
    listed.push_back(a);
  }
  return rank_algorithms(listed, allow_tf32());
}

// One pass's ranked algorithms for one input shape, and where the last working one sits.
struct PassPlan {
  std::vector<ListedAlgorithm> ranked;
  std::size_t current = 0;                 // the first that has worked (earlier ones failed)
  std::size_t recorded = std::size_t(-1);  // the nondeterministic one last noted, if any
};
struct ShapePlan {
  PassPlan fwd, data, filter;
  ChannelSumsPlan bias_sums;
};

// ---- Conv2d (cuDNN) ---------------------------------------------------------------------------
class Conv2d final : public Module {
 public:
  explicit Conv2d(const Conv2dSpec& spec) : spec_(spec) {
    check_conv2d_spec(spec, "conv2d (cuda)");
    const AxisPadding pad = conv_padding(spec);
    if (pad.begin != pad.end)
      throw std::invalid_argument(
          "conv2d (cuda): padding=\"same\" needs an odd kernel extent (cuDNN pads "
          "symmetrically)");
    pad_ = pad.begin;
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
    out_ = conv2d_output(spec_, in, "conv2d (cuda)");
    in_ = in;
    x_desc_.set(in.n, in.c, in.h, in.w);
    y_desc_.set(in.n, out_.c, out_.h, out_.w);
    // Shapes alternate (the last, shorter batch of an epoch; eval batches): the heuristics are
    // asked once per shape and TF32 setting, and a fallback found at execution is kept.
    const std::array<int, 5> key{in.n, in.c, in.h, in.w, allow_tf32() ? 1 : 0};
    auto it = plans_.find(key);
    if (it == plans_.end()) it = plans_.emplace(key, make_plan()).first;
    plan_ = &it->second;
    y_.resize(static_cast<std::size_t>(out_.numel()));
    if (input_grad_) dx_.resize(static_cast<std::size_t>(in.numel()));
    if (spec_.bias)
      bias_partial_.resize(std::size_t{plan_->bias_sums.chunks} * static_cast<std::size_t>(out_.c));
    built_ = true;
    return out_;
  }

  const float* forward(const float* x, bool) override {
    x_ = x;
    Runtime& rt = runtime();
    run(plan_->fwd, "forward", [&](int algo, void* ws, std::size_t bytes) {
      return cudnnConvolutionForward(rt.dnn, &kOne, x_desc_.get(), x, filter_, w_.value.data(),
                                     conv_, static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, bytes,
                                     &kZero, y_desc_.get(), y_.data());
    });
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
      // Parallel over N*H*W: blocks over (runs of a channel, channels), then a sum per channel.
      const ChannelSumsPlan& bp = plan_->bias_sums;
      const std::int64_t hw = std::int64_t{out_.h} * out_.w;
      channel_sums_partial<<<dim3(bp.chunks, static_cast<unsigned>(out_.c)), kReduceThreads, 0,
                             rt.stream>>>(bias_partial_.data(), dy, out_.c, hw, out_.n * hw,
                                          bp.chunk);
      check_launch("channel_sums_partial");
      channel_sums_finish<<<blocks_for(out_.c), kThreads, 0, rt.stream>>>(
          b_.grad.data(), bias_partial_.data(), out_.c, bp.chunks);
      check_launch("channel_sums_finish");
    }
    run(plan_->filter, "backward-filter", [&](int algo, void* ws, std::size_t bytes) {
      return cudnnConvolutionBackwardFilter(rt.dnn, &kOne, x_desc_.get(), x_, y_desc_.get(), dy,
                                            conv_,
                                            static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ws,
                                            bytes, &kOne, filter_, w_.grad.data());
    });
    if (!input_grad_) return nullptr;
    run(plan_->data, "backward-data", [&](int algo, void* ws, std::size_t bytes) {
      return cudnnConvolutionBackwardData(rt.dnn, &kOne, filter_, w_.value.data(), y_desc_.get(),
                                          dy, conv_,
                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws,
                                          bytes, &kZero, x_desc_.get(), dx_.data());
    });
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }
  void skip_input_grad() override { input_grad_ = false; }

 private:
  // The heuristics' lists for the shape set in the descriptors (backward-data only when the
  // input needs a gradient) and the bias-gradient split.
  ShapePlan make_plan() {
    // What the heuristics may list: tensor-op (TF32) kernels only when allowed. DEFAULT_MATH, as
    // PyTorch sets for float with allow_tf32: TF32 on Ampere and later, never an FP16 conversion.
    check(cudnnSetConvolutionMathType(conv_, allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
          "cudnnSetConvolutionMathType");
    Runtime& rt = runtime();
    constexpr int kMax = 16;
    int got = 0;
    ShapePlan plan;
    cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
    check(cudnnGetConvolutionForwardAlgorithm_v7(rt.dnn, x_desc_.get(), filter_, conv_,
                                                 y_desc_.get(), kMax, &got, fwd),
          "cudnnGetConvolutionForwardAlgorithm_v7");
    plan.fwd.ranked = ranked(fwd, got);
    if (input_grad_) {
      cudnnConvolutionBwdDataAlgoPerf_t data[kMax];
      check(cudnnGetConvolutionBackwardDataAlgorithm_v7(rt.dnn, filter_, y_desc_.get(), conv_,
                                                        x_desc_.get(), kMax, &got, data),
            "cudnnGetConvolutionBackwardDataAlgorithm_v7");
      plan.data.ranked = ranked(data, got);
    }
    cudnnConvolutionBwdFilterAlgoPerf_t filter[kMax];
    check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(rt.dnn, x_desc_.get(), y_desc_.get(), conv_,
                                                        filter_, kMax, &got, filter),
          "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    plan.filter.ranked = ranked(filter, got);
    if (spec_.bias)
      plan.bias_sums = plan_channel_sums(std::int64_t{out_.n} * out_.h * out_.w, out_.c);
    return plan;
  }

  // "conv2d 64->128 k3 s2 g1 on (128, 64, 32, 32), backward-filter": names a layer's pass in
  // errors and in the nondeterministic record.
  std::string describe(const char* pass) const {
    return "conv2d " + std::to_string(spec_.in_channels) + "->" +
           std::to_string(spec_.out_channels) + " k" + std::to_string(spec_.kernel) + " s" +
           std::to_string(spec_.stride) + " g" + std::to_string(spec_.groups) + " on " +
           to_string(in_) + ", " + pass;
  }

  // Runs one pass with the first of its ranked algorithms that works, from the last that did.
  // `call(algo, workspace, bytes)` returns cuDNN's status. A failure (a status, or a workspace
  // that cannot be allocated) moves on to the next algorithm. cuDNN refuses (NOT_SUPPORTED,
  // BAD_PARAM) before it launches anything and a failed launch writes nothing, so the retry of
  // the accumulating (beta = 1) filter pass adds once; an algorithm failing between two of its
  // own kernels could leave a partial result, which PyTorch's fallback accepts too.
  template <class Call>
  void run(PassPlan& pass, const char* name, Call call) {
    const std::size_t used = run_first_that_works(
        pass.ranked, pass.current, describe(name), allow_tf32() ? "" : " without TF32",
        [&](const ListedAlgorithm& a) -> std::string {
          void* ws = nullptr;
          try {
            ws = workspace(a.workspace);
          } catch (const std::runtime_error& e) {
            cudaGetLastError();  // an allocation failure is not sticky: clear it
            return std::string("workspace of ") + std::to_string(a.workspace) +
                   " bytes: " + e.what();
          }
          check(cudnnSetConvolutionMathType(conv_, static_cast<cudnnMathType_t>(a.math)),
                "cudnnSetConvolutionMathType");
          const cudnnStatus_t s = call(a.algo, ws, a.workspace);
          if (s == CUDNN_STATUS_SUCCESS) return {};
          cudaGetLastError();  // a failed launch leaves its error behind: clear it for the next
          return cudnnGetErrorString(s);
        });
    pass.current = used;
    const ListedAlgorithm& a = pass.ranked[used];
    if (!a.deterministic && pass.recorded != used) {
      nondeterministic_record().note(describe(name) + " algorithm " + std::to_string(a.algo));
      pass.recorded = used;
    }
  }

  Conv2dSpec spec_;
  int pad_ = 0;
  WeightBias p_;
  DeviceParam w_, b_;
  cudnnFilterDescriptor_t filter_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  TensorDesc x_desc_, y_desc_;
  std::map<std::array<int, 5>, ShapePlan> plans_;  // (n, c, h, w, tf32) -> plan
  ShapePlan* plan_ = nullptr;                      // the current shape's
  Shape in_, out_;
  bool built_ = false, input_grad_ = true;
  const float* x_ = nullptr;
  DeviceArray y_, dx_, bias_partial_;
};

}  // namespace

ModulePtr make_conv2d(const Conv2dSpec& spec) { return std::make_unique<Conv2d>(spec); }

}  // namespace ft::nn::cuda

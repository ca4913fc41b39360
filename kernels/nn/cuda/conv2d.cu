// Conv2d on cuDNN (see layers.cuh). Per input shape, each pass (forward, backward-data,
// backward-filter) keeps cuDNN's heuristic list ranked as conv_algorithms.hpp says (deterministic
// first; tensor-op math only with TF32 or bf16) and runs the first that works, falling back to the
// next when one fails at execution. Backward-data is neither planned nor run for a convolution
// whose input needs no gradient (the network's first).
// Precision::bf16: cuDNN's PSEUDO_BFLOAT16_CONFIG on tensor cores (bf16 NHWC tensors and KRSC
// filter, f32 compute; NCHW / KCRS for a shape cuDNN lists nothing usable in NHWC for). x, the
// weights (every forward: they change with each optimizer step) and dy are rounded to bf16 here;
// cuDNN's results are bf16 too (the legacy API has no bf16-in, f32-out configuration), so y, dx and
// dL/dweight are rounded once more after the f32 sums, as with PyTorch's autocast, then widened to
// f32 NCHW (dL/dweight added to the f32 gradient).
#include <algorithm>
#include <array>
#include <map>
#include <memory>

#include "kernels/nn/cuda/conv_plan.cuh"
#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"
#include "kernels/nn/geometry.hpp"

namespace ft::nn::cuda {
namespace {

// ---- Conv2d (cuDNN) ---------------------------------------------------------------------------
class Conv2d final : public Module {
 public:
  Conv2d(const Conv2dSpec& spec, Precision precision)
      : spec_(spec), bf16_(precision == Precision::bf16) {
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
    if (bf16_) w_bf16_.resize(p_.weight.value.size());
    check(cudnnCreateFilterDescriptor(&filter_), "cudnnCreateFilterDescriptor");

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

    // Shapes alternate (the last, shorter batch of an epoch; eval batches): the heuristics are
    // asked once per shape and TF32 setting, and a fallback found at execution is kept.
    const std::array<int, 5> key{in.n, in.c, in.h, in.w, bf16_ ? 2 : allow_tf32() ? 1 : 0};
    auto it = plans_.find(key);
    if (it == plans_.end()) it = plans_.emplace(key, make_plan()).first;
    plan_ = &it->second;
    set_descriptors(plan_->nhwc);  // they may hold another shape's (make_plan sets them too)
    y_.resize(static_cast<std::size_t>(out_.numel()));
    if (input_grad_) dx_.resize(static_cast<std::size_t>(in.numel()));
    if (bf16_) x_bf16_.resize(static_cast<std::size_t>(in.numel()));
    if (spec_.bias)
      bias_partial_.resize(std::size_t{plan_->bias_sums.chunks} * static_cast<std::size_t>(out_.c));
    built_ = true;
    return out_;
  }

  const float* forward(const float* x, bool) override {
    x_ = x;
    Runtime& rt = runtime();
    const void *xs = x, *wts = w_.value.data();
    void* ys = y_.data();
    if (bf16_) {
      to_operand(x_bf16_.data(), x, in_.n, in_.c, in_.h * in_.w);
      to_operand(w_bf16_.data(), w_.value.data(), spec_.out_channels,
                 spec_.in_channels / spec_.groups, spec_.kernel * spec_.kernel);
      xs = x_bf16_.data();
      wts = w_bf16_.data();
      ys = bf16_scratch(0, out_.numel());
    }
    run(plan_->fwd, "forward", [&](int algo, void* ws, std::size_t bytes) {
      return cudnnConvolutionForward(rt.dnn, &kOne, x_desc_.get(), xs, filter_, wts, conv_,
                                     static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, bytes,
                                     &kZero, y_desc_.get(), ys);
    });
    if (bf16_)
      from_result(y_.data(), static_cast<const std::uint16_t*>(ys), out_.n, out_.c, out_.h * out_.w,
                  false);
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
    // bf16: dy rounded to NHWC; cuDNN writes dL/dweight and dx as bf16 (beta 0) into the
    // second scratch, widened into the f32 gradient (added) and dx_.
    const void *xs = x_, *dys = dy, *wts = w_.value.data();
    void *dws = w_.grad.data(), *dxs = dx_.data();
    const int k_in = spec_.in_channels / spec_.groups, rs = spec_.kernel * spec_.kernel;
    if (bf16_) {
      auto* d = bf16_scratch(0, out_.numel());
      to_operand(d, dy, out_.n, out_.c, out_.h * out_.w);
      xs = x_bf16_.data();
      dys = d;
      wts = w_bf16_.data();
      dws = bf16_scratch(1, std::int64_t{spec_.out_channels} * k_in * rs);
    }
    const float* filter_beta = bf16_ ? &kZero : &kOne;
    run(plan_->filter, "backward-filter", [&](int algo, void* ws, std::size_t bytes) {
      return cudnnConvolutionBackwardFilter(
          rt.dnn, &kOne, x_desc_.get(), xs, y_desc_.get(), dys, conv_,
          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ws, bytes, filter_beta, filter_, dws);
    });
    if (bf16_)
      from_result(w_.grad.data(), static_cast<const std::uint16_t*>(dws), spec_.out_channels, k_in,
                  rs, true);
    if (!input_grad_) return nullptr;
    if (bf16_) dxs = bf16_scratch(1, in_.numel());
    run(plan_->data, "backward-data", [&](int algo, void* ws, std::size_t bytes) {
      return cudnnConvolutionBackwardData(rt.dnn, &kOne, filter_, wts, y_desc_.get(), dys, conv_,
                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws,
                                          bytes, &kZero, x_desc_.get(), dxs);
    });
    if (bf16_)
      from_result(dx_.data(), static_cast<const std::uint16_t*>(dxs), in_.n, in_.c, in_.h * in_.w,
                  false);
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }
  void skip_input_grad() override { input_grad_ = false; }

 private:
  // The descriptors of the current shape: f32 NCHW, or bf16 in NHWC (nhwc) or NCHW.
  void set_descriptors(bool nhwc) {
    const cudnnDataType_t type = bf16_ ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    const cudnnTensorFormat_t format = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    x_desc_.set(in_.n, in_.c, in_.h, in_.w, type, format);
    y_desc_.set(in_.n, out_.c, out_.h, out_.w, type, format);
    check(cudnnSetFilter4dDescriptor(filter_, type, format, spec_.out_channels,
                                     spec_.in_channels / spec_.groups, spec_.kernel, spec_.kernel),
          "cudnnSetFilter4dDescriptor");
  }

  // bf16 operands in the current shape's layout, and cuDNN's bf16 results back to f32 NCHW.
  void to_operand(std::uint16_t* dst, const float* src, std::int64_t batches, int channels,
                  int hw) const {
    if (plan_->nhwc)
      to_bf16_nhwc(dst, src, batches, channels, hw);
    else
      to_bf16(dst, src, batches * channels * hw);
  }
  void from_result(float* dst, const std::uint16_t* src, std::int64_t batches, int channels, int hw,
                   bool accumulate) const {
    if (plan_->nhwc)
      from_bf16_nhwc(dst, src, batches, channels, hw, accumulate);
    else
      from_bf16(dst, src, batches * channels * hw, accumulate);
  }

  // The plan for the current shape. bf16 asks the heuristics in NHWC first and keeps NHWC unless
  // cuDNN refuses the NHWC descriptors or some pass it needs has nothing usable there.
  ShapePlan make_plan() {
    if (bf16_) {
      try {
        set_descriptors(true);
        ShapePlan nhwc = query_plan();
        nhwc.nhwc = true;
        if (!nhwc.fwd.ranked.empty() && !nhwc.filter.ranked.empty() &&
            (!input_grad_ || !nhwc.data.ranked.empty()))
          return nhwc;
      } catch (const std::runtime_error&) {
        // A status from a descriptor or heuristics call (not a launch): NCHW below.
      }
    }
    set_descriptors(false);
    return query_plan();
  }

  // The heuristics' lists for the shape set in the descriptors (backward-data only when the
  // input needs a gradient) and the bias-gradient split.
  ShapePlan query_plan() {
    // What the heuristics may list: tensor-op (TF32) kernels only when allowed. DEFAULT_MATH, as
    // PyTorch sets for float with allow_tf32: TF32 on Ampere and later, never an FP16 conversion.
    // bf16: tensor-op math, as PyTorch sets for reduced-precision data.
    check(cudnnSetConvolutionMathType(conv_, bf16_          ? CUDNN_TENSOR_OP_MATH
                                             : allow_tf32() ? CUDNN_DEFAULT_MATH
                                                            : CUDNN_FMA_MATH),
          "cudnnSetConvolutionMathType");
    Runtime& rt = runtime();
    constexpr int kMax = 16;
    int got = 0;
    ShapePlan plan;
    cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
    check(cudnnGetConvolutionForwardAlgorithm_v7(rt.dnn, x_desc_.get(), filter_, conv_,
                                                 y_desc_.get(), kMax, &got, fwd),
          "cudnnGetConvolutionForwardAlgorithm_v7");
    plan.fwd.ranked = ranked(fwd, got, bf16_);
    if (input_grad_) {
      cudnnConvolutionBwdDataAlgoPerf_t data[kMax];
      check(cudnnGetConvolutionBackwardDataAlgorithm_v7(rt.dnn, filter_, y_desc_.get(), conv_,
                                                        x_desc_.get(), kMax, &got, data),
            "cudnnGetConvolutionBackwardDataAlgorithm_v7");
      plan.data.ranked = ranked(data, got, bf16_);
    }
    cudnnConvolutionBwdFilterAlgoPerf_t filter[kMax];
    check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(rt.dnn, x_desc_.get(), y_desc_.get(), conv_,
                                                        filter_, kMax, &got, filter),
          "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    plan.filter.ranked = ranked(filter, got, bf16_);
    if (spec_.bias)
      plan.bias_sums = plan_channel_sums(std::int64_t{out_.n} * out_.h * out_.w, out_.c);
    return plan;
  }

  // "conv2d 64->128 k3 s2 g1 on (128, 64, 32, 32), backward-filter": names a layer's pass in
  // errors and in the nondeterministic record.
  std::string describe(const char* pass) const {
    return "conv2d " + std::to_string(spec_.in_channels) + "->" +
           std::to_string(spec_.out_channels) + " k" + std::to_string(spec_.kernel) + " s" +
           std::to_string(spec_.stride) + " g" + std::to_string(spec_.groups) +
           (bf16_ ? " bf16" : "") + " on " + to_string(in_) + ", " + pass;
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
        pass.ranked, pass.current, describe(name),
        bf16_          ? " in bf16"
        : allow_tf32() ? ""
                       : " without TF32",
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
  bool bf16_;
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
  Bf16Array x_bf16_, w_bf16_;  // bf16: the forward's operands, kept for backward
};

}  // namespace

ModulePtr make_conv2d(const Conv2dSpec& spec, Precision precision) {
  return std::make_unique<Conv2d>(spec, precision);
}

}  // namespace ft::nn::cuda

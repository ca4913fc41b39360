// Conv2d on the CPU with oneDNN: forward, backward data and backward weights primitives built
// once per input shape. The interface layout is NCHW/OIHW; the primitives pick their own
// (blocked) layouts through format_tag::any and MemoryPair reorders at the edges. In bf16 dst
// (and so diff_dst) is bf16, diff_src has the input's type, and the weights are rounded to bf16
// by a reorder each pass; an f32 input (the network's first layer) is rounded by one too.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/nn/cpu/conv_weight_grad.hpp"
#include "kernels/nn/cpu/dnnl_memory.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/cpu/weight_primitives.hpp"
#include "kernels/nn/geometry.hpp"
#include "kernels/nn/layer_params.hpp"

namespace ft::nn::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

class Conv2d final : public Module {
 public:
  Conv2d(const Conv2dSpec& spec, bool blocked, Precision precision,
         std::optional<ConvWeightGrad> wgrad)
      : spec_(spec),
        wgrad_(wgrad),
        blocked_(blocked),
        in_type_(input_type(precision)),
        out_dtype_(precision == Precision::bf16 ? DataType::bf16 : DataType::f32),
        precision_(precision) {
    check_conv2d_spec(spec, "conv2d");
    p_ = WeightBias({spec.out_channels, spec.in_channels / spec.groups, spec.kernel, spec.kernel},
                    spec.bias);
  }

  Shape setup(const Shape& in) override {
    if (in == in_ && built_) return out_;
    out_ = conv2d_output(spec_, in, "conv2d");
    out_.dtype = out_dtype_;
    in_ = in;
    const int oh = out_.h, ow = out_.w;
    const int pl = conv_padding(spec_).begin, pr = conv_padding(spec_).end;

    const memory::dims src_d{in.n, in.c, in.h, in.w}, dst_d{in.n, out_.c, oh, ow};
    const int g = spec_.groups;
    const memory::dims w_d =
        g > 1 ? memory::dims{g, spec_.out_channels / g, spec_.in_channels / g, spec_.kernel,
                             spec_.kernel}
              : memory::dims{spec_.out_channels, spec_.in_channels, spec_.kernel, spec_.kernel};
    const tag w_tag = g > 1 ? tag::goihw : tag::oihw;
    const memory::dims strides{spec_.stride, spec_.stride},
        dil{spec_.dilation - 1, spec_.dilation - 1};
    const memory::dims pad_l{pl, pl}, pad_r{pr, pr};
    const auto any = [](const memory::dims& d, memory::data_type t = memory::data_type::f32) {
      return memory::desc(d, t, tag::any);
    };
    const auto in_any = [&](const memory::dims& d) { return any(d, in_type_); };
    const memory::desc b_md = spec_.bias ? plain_md({spec_.out_channels}, tag::x) : memory::desc();
    const ConvWeightGrad wgrad = wgrad_ ? *wgrad_
                                        : conv_weight_grad_path(spec_, in, oh, ow, precision_,
                                                                dnnl::get_effective_cpu_isa());
    const memory::data_type wgrad_type =
        wgrad == ConvWeightGrad::direct_f32 ? memory::data_type::f32 : in_type_;

    const auto algo =
        dnnl::algorithm::convolution_direct;  // winograd (convolution_auto) measured no faster here
    dnnl::convolution_forward::primitive_desc fwd_pd(
        dnnl::convolution_forward::desc(
            dnnl::prop_kind::forward_training, algo, in_any(src_d), in_any(w_d), b_md,
            blocked_ ? any(dst_d, data_type_of(out_.dtype)) : md_of(out_), strides, dil, pad_l,
            pad_r),
        scratchpad_attr(), engine());
    // Hand on the primitive's own output layout when it is one the other layers know.
    if (blocked_ && !layout_of(fwd_pd.dst_desc(), out_, out_.layout)) out_.layout = Layout::nchw;
    dnnl::convolution_backward_data::primitive_desc bwd_d_pd(
        dnnl::convolution_backward_data::desc(algo, any(src_d, data_type_of(in.dtype)), in_any(w_d),
                                              in_any(dst_d), strides, dil, pad_l, pad_r),
        scratchpad_attr(), engine(), fwd_pd);
    gemm_wgrad_ = is_gemm(wgrad);
    if (gemm_wgrad_) {
      prims_.build(fwd_pd, bwd_d_pd, nullptr, md_of(in_), plain_md(w_d, w_tag), md_of(out_), b_md,
                   p_);
      gemm_grad_.build(spec_, in_, out_, in_type_, md_of(in_), md_of(out_),
                       wgrad == ConvWeightGrad::taps);
    } else {
      dnnl::convolution_backward_weights::primitive_desc bwd_w_pd(
          dnnl::convolution_backward_weights::desc(algo, any(src_d, wgrad_type), any(w_d), b_md,
                                                   any(dst_d, wgrad_type), strides, dil, pad_l,
                                                   pad_r),
          scratchpad_attr(), engine(), fwd_pd);
      prims_.build(fwd_pd, bwd_d_pd, &bwd_w_pd, md_of(in_), plain_md(w_d, w_tag), md_of(out_), b_md,
                   p_);
    }
    y_.assign(out_.buffer_floats(), 0.f);
    if (input_grad_) dx_.assign(in_.buffer_floats(), 0.f);
    built_ = true;
    return out_;
  }

  const float* forward(const float* x, bool) override {
    prims_.forward(x, p_, y_.data());
    return y_.data();
  }

  void skip_input_grad() override { input_grad_ = false; }

  const float* backward(const float* dy) override {
    prims_.backward(dy, p_, input_grad_ ? dx_.data() : nullptr);
    if (gemm_wgrad_) gemm_grad_.accumulate(prims_.input(), dy, p_);
    return input_grad_ ? dx_.data() : nullptr;
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }

 private:
  Conv2dSpec spec_;
  std::optional<ConvWeightGrad> wgrad_;  // the weight-gradient path, if forced
  bool blocked_, input_grad_ = true;
  memory::data_type in_type_;  // of src, weights and diff_dst inside the primitives
  DataType out_dtype_;         // of y and dL/dy
  Precision precision_;
  WeightBias p_;
  Shape in_, out_;
  bool built_ = false, gemm_wgrad_ = false;
  GemmWeightGrad gemm_grad_;
  WeightPrimitives<dnnl::convolution_forward, dnnl::convolution_backward_data,
                   dnnl::convolution_backward_weights>
      prims_;
  std::vector<float> y_, dx_;  // y: (N, O, OH, OW) out_.dtype; dx: (N, C, H, W) in_.dtype
};

}  // namespace

ConvWeightGrad conv_weight_grad_path(const Conv2dSpec& spec, const Shape& in, int out_h, int out_w,
                                     Precision precision, dnnl::cpu_isa isa) {
  const bool bf16 = precision == Precision::bf16;
  if (bf16 && isa == dnnl::cpu_isa::avx512_core_amx) return ConvWeightGrad::direct;
  if (spec.kernel == 1 || spec.in_channels <= 4) return ConvWeightGrad::direct;
  const bool strided_bf16 = bf16 && spec.stride > 1;
  if (spec.groups == 1 && (out_h * out_w <= kGemmMaxPixels || strided_bf16) &&
      im2col_bytes(spec, in, out_h, out_w, bf16 ? 2 : 4) <= kIm2colMaxBytes)
    return im2col_density(spec, in, out_h, out_w) < kTapsBelowDensity ? ConvWeightGrad::taps
                                                                      : ConvWeightGrad::im2col;
  return strided_bf16 || (bf16 && spec.groups > 1) ? ConvWeightGrad::direct_f32
                                                   : ConvWeightGrad::direct;
}

ModulePtr make_conv2d(const Conv2dSpec& spec, bool blocked, Precision precision,
                      std::optional<ConvWeightGrad> wgrad) {
  if (wgrad && is_gemm(*wgrad) && (spec.groups != 1 || spec.kernel == 1))
    throw std::invalid_argument(
        "conv2d: the im2col weight gradient needs groups 1 and a kernel > 1");
  return std::make_unique<Conv2d>(spec, blocked, precision, wgrad);
}

}  // namespace ft::nn::cpu

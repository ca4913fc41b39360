// Conv2d on the CPU with oneDNN: forward, backward data and backward weights primitives built
// once per input shape. The interface layout is NCHW/OIHW; the primitives pick their own
// (blocked) layouts through format_tag::any and MemoryPair reorders at the edges. In bf16 dst
// (and so diff_dst) is bf16, diff_src has the input's type, and the weights are rounded to bf16
// by a reorder each pass; an f32 input (the network's first layer) is rounded by one too.
#include <stdexcept>
#include <string>
#include <vector>

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
  Conv2d(const Conv2dSpec& spec, bool blocked, Precision precision)
      : spec_(spec),
        blocked_(blocked),
        in_type_(input_type(precision)),
        out_dtype_(precision == Precision::bf16 ? DataType::bf16 : DataType::f32) {
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
    const memory::data_type wgrad_type =
        conv_bf16_weight_grad(spec_, oh, ow, dnnl::get_effective_cpu_isa())
            ? in_type_
            : memory::data_type::f32;

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
    dnnl::convolution_backward_weights::primitive_desc bwd_w_pd(
        dnnl::convolution_backward_weights::desc(algo, any(src_d, wgrad_type), any(w_d), b_md,
                                                 any(dst_d, wgrad_type), strides, dil, pad_l,
                                                 pad_r),
        scratchpad_attr(), engine(), fwd_pd);
    prims_.build(fwd_pd, bwd_d_pd, bwd_w_pd, md_of(in_), plain_md(w_d, w_tag), md_of(out_), b_md,
                 p_);
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
    return input_grad_ ? dx_.data() : nullptr;
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }

 private:
  Conv2dSpec spec_;
  bool blocked_, input_grad_ = true;
  memory::data_type in_type_;  // of src, weights and diff_dst inside the primitives
  DataType out_dtype_;         // of y and dL/dy
  WeightBias p_;
  Shape in_, out_;
  bool built_ = false;
  WeightPrimitives<dnnl::convolution_forward, dnnl::convolution_backward_data,
                   dnnl::convolution_backward_weights>
      prims_;
  std::vector<float> y_, dx_;  // y: (N, O, OH, OW) out_.dtype; dx: (N, C, H, W) in_.dtype
};

}  // namespace

bool conv_bf16_weight_grad(const Conv2dSpec& spec, int out_h, int out_w, dnnl::cpu_isa isa) {
  if (isa == dnnl::cpu_isa::avx512_core_amx) return true;
  return spec.kernel == 1 || spec.in_channels <= 4 || (spec.stride == 1 && out_h * out_w > 16);
}

ModulePtr make_conv2d(const Conv2dSpec& spec, bool blocked, Precision precision) {
  return std::make_unique<Conv2d>(spec, blocked, precision);
}

}  // namespace ft::nn::cpu

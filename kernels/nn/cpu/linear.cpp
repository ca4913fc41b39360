// Linear (y = x W^T + b, W: (out, in)) on the CPU with oneDNN inner-product primitives built once
// per batch size. The input (N, C, H, W) is read as (N, C*H*W), so Flatten costs nothing. In bf16
// src, weights and diff_dst enter the primitives as bf16 (as in conv2d.cpp); y is f32 (logits or
// the head's hidden layer) and dL/dx has the input's type.
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/nn/cpu/dnnl_memory.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/cpu/weight_primitives.hpp"
#include "kernels/nn/layer_params.hpp"

namespace ft::nn::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

// oneDNN 2.6.3 (Debian 12's) segfaults in its brgemm:avx512_core inner-product backward-data
// when in_features <= 32 and out_features >= 2048 (found with mini_resnet's head on small
// inputs; reproduced for in 1..32, out 2048..8192, any batch). Plain layouts steer that
// primitive to gemm:jit, which has no speed to lose at such a narrow input.
constexpr int kSmallInFeatures = 32;

class Linear final : public Module {
 public:
  Linear(const LinearSpec& spec, Precision precision)
      : spec_(spec), in_type_(input_type(precision)) {
    if (spec.in_features <= 0 || spec.out_features <= 0)
      throw std::invalid_argument("linear: in_features and out_features must be > 0");
    p_ = WeightBias({spec.out_features, spec.in_features}, spec.bias);
  }

  Shape setup(const Shape& in) override {
    if (in.per_sample() != spec_.in_features)
      throw std::invalid_argument(
          "linear: input " + to_string(in) + " has " + std::to_string(in.per_sample()) +
          " features per sample, expected " + std::to_string(spec_.in_features));
    if (in.layout != Layout::nchw)
      throw std::invalid_argument("linear: needs an NCHW input (flatten first), got " +
                                  to_string(in));
    if (in == in_ && built_) return out_;
    in_ = in;
    out_ = Shape{in.n, spec_.out_features, 1, 1};
    const memory::dims src_d{in.n, spec_.in_features}, w_d{spec_.out_features, spec_.in_features},
        dst_d{in.n, spec_.out_features};
    const auto any = [](const memory::dims& d, memory::data_type t = memory::data_type::f32) {
      return memory::desc(d, t, tag::any);
    };
    const auto in_any = [&](const memory::dims& d) { return any(d, in_type_); };
    const memory::desc b_md = spec_.bias ? plain_md({spec_.out_features}, tag::x) : memory::desc();
    dnnl::inner_product_forward::primitive_desc fwd_pd(
        dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, in_any(src_d),
                                          in_any(w_d), b_md, any(dst_d)),
        scratchpad_attr(), engine());
    const bool narrow = spec_.in_features <= kSmallInFeatures;
    const auto bd_md = [&](const memory::dims& d, memory::data_type t) {
      return narrow ? plain_md(d, tag::ab, t) : any(d, t);
    };
    dnnl::inner_product_backward_data::primitive_desc bd_pd(
        dnnl::inner_product_backward_data::desc(bd_md(src_d, data_type_of(in.dtype)),
                                                bd_md(w_d, in_type_), bd_md(dst_d, in_type_)),
        scratchpad_attr(), engine(), fwd_pd);
    dnnl::inner_product_backward_weights::primitive_desc bw_pd(
        dnnl::inner_product_backward_weights::desc(in_any(src_d), any(w_d), b_md, in_any(dst_d)),
        scratchpad_attr(), engine(), fwd_pd);
    prims_.build(fwd_pd, bd_pd, &bw_pd, plain_md(src_d, tag::nc, data_type_of(in.dtype)),
                 plain_md(w_d, tag::oi), plain_md(dst_d, tag::nc), b_md, p_);
    y_.assign(out_.numel(), 0.f);
    dx_.assign(in_.buffer_floats(), 0.f);
    built_ = true;
    return out_;
  }

  const float* forward(const float* x, bool) override {
    prims_.forward(x, p_, y_.data());
    return y_.data();
  }

  const float* backward(const float* dy) override {
    prims_.backward(dy, p_, dx_.data());
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }

 private:
  LinearSpec spec_;
  memory::data_type in_type_;  // of src, weights and diff_dst inside the primitives
  WeightBias p_;
  Shape in_, out_;
  bool built_ = false;
  WeightPrimitives<dnnl::inner_product_forward, dnnl::inner_product_backward_data,
                   dnnl::inner_product_backward_weights>
      prims_;
  std::vector<float> y_, dx_;  // y: (N, out) f32; dx: (N, in) in_.dtype
};

}  // namespace

ModulePtr make_linear(const LinearSpec& spec, Precision precision) {
  return std::make_unique<Linear>(spec, precision);
}

}  // namespace ft::nn::cpu

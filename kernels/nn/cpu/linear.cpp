// Linear (y = x W^T + b, W: (out, in)) on the CPU with oneDNN inner-product primitives built once
// per batch size. The input (N, C, H, W) is read as (N, C*H*W), so Flatten costs nothing.
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/nn/cpu/dnnl_memory.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/layer_params.hpp"

namespace ft::nn::cpu {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

class Linear final : public Module {
 public:
  explicit Linear(const LinearSpec& spec) : spec_(spec) {
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
    const auto any = [](const memory::dims& d) {
      return memory::desc(d, memory::data_type::f32, tag::any);
    };
    const memory::desc b_md = spec_.bias ? plain_md({spec_.out_features}, tag::x) : memory::desc();
    dnnl::inner_product_forward::primitive_desc fwd_pd(
        dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, any(src_d), any(w_d),
                                          b_md, any(dst_d)),
        engine());
    dnnl::inner_product_backward_data::primitive_desc bd_pd(
        dnnl::inner_product_backward_data::desc(any(src_d), any(w_d), any(dst_d)), engine(),
        fwd_pd);
    dnnl::inner_product_backward_weights::primitive_desc bw_pd(
        dnnl::inner_product_backward_weights::desc(any(src_d), any(w_d), b_md, any(dst_d)),
        engine(), fwd_pd);
    fwd_ = dnnl::inner_product_forward(fwd_pd);
    bwd_data_ = dnnl::inner_product_backward_data(bd_pd);
    bwd_weights_ = dnnl::inner_product_backward_weights(bw_pd);
    const memory::desc src_md = plain_md(src_d, tag::nc), w_md = plain_md(w_d, tag::oi),
                       dst_md = plain_md(dst_d, tag::nc);
    f_src_ = MemoryPair(src_md, fwd_pd.src_desc());
    f_w_ = MemoryPair(w_md, fwd_pd.weights_desc());
    f_dst_ = MemoryPair(dst_md, fwd_pd.dst_desc());
    d_ddst_ = MemoryPair(dst_md, bd_pd.diff_dst_desc());
    d_w_ = MemoryPair(w_md, bd_pd.weights_desc());
    d_dsrc_ = MemoryPair(src_md, bd_pd.diff_src_desc());
    w_src_ = MemoryPair(src_md, bw_pd.src_desc());
    w_ddst_ = MemoryPair(dst_md, bw_pd.diff_dst_desc());
    w_dw_ = MemoryPair(w_md, bw_pd.diff_weights_desc());
    if (spec_.bias) {
      b_mem_ = memory(b_md, engine(), DNNL_MEMORY_NONE);
      db_mem_ = memory(b_md, engine(), DNNL_MEMORY_NONE);
    }
    y_.assign(out_.numel(), 0.f);
    dx_.assign(in_.numel(), 0.f);
    dw_.assign(p_.weight.value.size(), 0.f);
    db_.assign(p_.bias.value.size(), 0.f);
    built_ = true;
    return out_;
  }

  const float* forward(const float* x, bool) override {
    x_ = x;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, f_src_.in(x)},
                                         {DNNL_ARG_WEIGHTS, f_w_.in(p_.weight.value.data())},
                                         {DNNL_ARG_DST, f_dst_.out(y_.data())}};
    if (spec_.bias) {
      b_mem_.set_data_handle(p_.bias.value.data());
      args.emplace(DNNL_ARG_BIAS, b_mem_);
    }
    fwd_.execute(stream(), args);
    f_dst_.store();
    stream().wait();
    return y_.data();
  }

  const float* backward(const float* dy) override {
    bwd_data_.execute(stream(), {{DNNL_ARG_DIFF_DST, d_ddst_.in(dy)},
                                 {DNNL_ARG_WEIGHTS, d_w_.in(p_.weight.value.data())},
                                 {DNNL_ARG_DIFF_SRC, d_dsrc_.out(dx_.data())}});
    d_dsrc_.store();
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, w_src_.in(x_)},
                                         {DNNL_ARG_DIFF_DST, w_ddst_.in(dy)},
                                         {DNNL_ARG_DIFF_WEIGHTS, w_dw_.out(dw_.data())}};
    if (spec_.bias) {
      db_mem_.set_data_handle(db_.data());
      args.emplace(DNNL_ARG_DIFF_BIAS, db_mem_);
    }
    bwd_weights_.execute(stream(), args);
    w_dw_.store();
    stream().wait();
    // oneDNN overwrites; Parameter::grad accumulates.
    for (std::size_t i = 0; i < dw_.size(); ++i) p_.weight.grad[i] += dw_[i];
    for (std::size_t i = 0; i < db_.size(); ++i) p_.bias.grad[i] += db_[i];
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }

 private:
  LinearSpec spec_;
  WeightBias p_;
  Shape in_, out_;
  bool built_ = false;
  const float* x_ = nullptr;
  dnnl::inner_product_forward fwd_;
  dnnl::inner_product_backward_data bwd_data_;
  dnnl::inner_product_backward_weights bwd_weights_;
  MemoryPair f_src_, f_w_, f_dst_, d_ddst_, d_w_, d_dsrc_, w_src_, w_ddst_, w_dw_;
  memory b_mem_, db_mem_;
  std::vector<float> y_, dx_, dw_, db_;  // y: (N, out); dx: (N, in)
};

}  // namespace

ModulePtr make_linear(const LinearSpec& spec) { return std::make_unique<Linear>(spec); }

}  // namespace ft::nn::cpu

// Conv2d on the CPU with oneDNN: forward, backward data and backward weights primitives built
// once per input shape. The interface layout is NCHW/OIHW; the primitives pick their own
// (blocked) layouts through format_tag::any and MemoryPair reorders at the edges.
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

class Conv2d final : public Module {
 public:
  Conv2d(const Conv2dSpec& spec, bool blocked) : spec_(spec), blocked_(blocked) {
    if (spec.in_channels <= 0 || spec.out_channels <= 0 || spec.kernel <= 0 || spec.stride <= 0 ||
        spec.groups <= 0 || spec.in_channels % spec.groups || spec.out_channels % spec.groups)
      throw std::invalid_argument("conv2d: bad channels/kernel/stride/groups (in " +
                                  std::to_string(spec.in_channels) + ", out " +
                                  std::to_string(spec.out_channels) + ", groups " +
                                  std::to_string(spec.groups) + ")");
    if (spec.same_padding && spec.stride != 1)
      throw std::invalid_argument("conv2d: padding=\"same\" needs stride 1 (as in PyTorch)");
    p_ = WeightBias({spec.out_channels, spec.in_channels / spec.groups, spec.kernel, spec.kernel},
                    spec.bias);
  }

  Shape setup(const Shape& in) override {
    if (in == in_ && built_) return out_;
    if (in.c != spec_.in_channels)
      throw std::invalid_argument("conv2d: input " + to_string(in) + " has " +
                                  std::to_string(in.c) + " channels, expected " +
                                  std::to_string(spec_.in_channels));
    const int ext = spec_.dilation * (spec_.kernel - 1);  // extent of the kernel minus one
    int pl = spec_.padding, pr = spec_.padding;
    if (spec_.same_padding) {
      pl = ext / 2;
      pr = ext - pl;
    }
    const int oh = (in.h + pl + pr - ext - 1) / spec_.stride + 1;
    const int ow = (in.w + pl + pr - ext - 1) / spec_.stride + 1;
    if (oh <= 0 || ow <= 0)
      throw std::invalid_argument("conv2d: input " + to_string(in) + " too small");
    in_ = in;
    out_ = Shape{in.n, spec_.out_channels, oh, ow, Layout::nchw};

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
    const auto any = [](const memory::dims& d) {
      return memory::desc(d, memory::data_type::f32, tag::any);
    };
    const memory::desc b_md = spec_.bias ? plain_md({spec_.out_channels}, tag::x) : memory::desc();

    const auto algo =
        dnnl::algorithm::convolution_direct;  // winograd (convolution_auto) measured no faster here
    dnnl::convolution_forward::primitive_desc fwd_pd(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, any(src_d),
                                        any(w_d), b_md, blocked_ ? any(dst_d) : md_of(out_),
                                        strides, dil, pad_l, pad_r),
        engine());
    // Hand on the primitive's own output layout when it is one the other layers know.
    if (blocked_ && !layout_of(fwd_pd.dst_desc(), out_, out_.layout)) out_.layout = Layout::nchw;
    dnnl::convolution_backward_data::primitive_desc bwd_d_pd(
        dnnl::convolution_backward_data::desc(algo, any(src_d), any(w_d), any(dst_d), strides, dil,
                                              pad_l, pad_r),
        engine(), fwd_pd);
    dnnl::convolution_backward_weights::primitive_desc bwd_w_pd(
        dnnl::convolution_backward_weights::desc(algo, any(src_d), any(w_d), b_md, any(dst_d),
                                                 strides, dil, pad_l, pad_r),
        engine(), fwd_pd);
    fwd_ = dnnl::convolution_forward(fwd_pd);
    bwd_data_ = dnnl::convolution_backward_data(bwd_d_pd);
    bwd_weights_ = dnnl::convolution_backward_weights(bwd_w_pd);

    const memory::desc src_md = md_of(in_), dst_md = md_of(out_);
    const memory::desc w_md = plain_md(w_d, w_tag);
    f_src_ = MemoryPair(src_md, fwd_pd.src_desc());
    f_w_ = MemoryPair(w_md, fwd_pd.weights_desc());
    f_dst_ = MemoryPair(dst_md, fwd_pd.dst_desc());
    d_ddst_ = MemoryPair(dst_md, bwd_d_pd.diff_dst_desc());
    d_w_ = MemoryPair(w_md, bwd_d_pd.weights_desc());
    d_dsrc_ = MemoryPair(src_md, bwd_d_pd.diff_src_desc());
    w_src_ = MemoryPair(src_md, bwd_w_pd.src_desc());
    w_ddst_ = MemoryPair(dst_md, bwd_w_pd.diff_dst_desc());
    w_dw_ = MemoryPair(w_md, bwd_w_pd.diff_weights_desc());
    if (spec_.bias) b_mem_ = memory(b_md, engine(), DNNL_MEMORY_NONE);
    if (spec_.bias) db_mem_ = memory(b_md, engine(), DNNL_MEMORY_NONE);

    y_.assign(out_.storage(), 0.f);
    if (input_grad_) dx_.assign(in_.storage(), 0.f);
    dw_.assign(p_.weight.value.size(), 0.f);
    db_.assign(p_.bias.value.size(), 0.f);
    built_ = true;
    return out_;
  }

  const float* forward(const float* x, bool training) override {
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

  void skip_input_grad() override { input_grad_ = false; }

  const float* backward(const float* dy) override {
    if (input_grad_) {
      bwd_data_.execute(stream(), {{DNNL_ARG_DIFF_DST, d_ddst_.in(dy)},
                                   {DNNL_ARG_WEIGHTS, d_w_.in(p_.weight.value.data())},
                                   {DNNL_ARG_DIFF_SRC, d_dsrc_.out(dx_.data())}});
      d_dsrc_.store();
    }
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
    // oneDNN overwrites; Parameter::grad accumulates (PyTorch semantics across backward calls).
    for (std::size_t i = 0; i < dw_.size(); ++i) p_.weight.grad[i] += dw_[i];
    for (std::size_t i = 0; i < db_.size(); ++i) p_.bias.grad[i] += db_[i];
    return input_grad_ ? dx_.data() : nullptr;
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }

 private:
  Conv2dSpec spec_;
  bool blocked_, input_grad_ = true;
  WeightBias p_;
  Shape in_, out_;
  bool built_ = false;
  const float* x_ = nullptr;
  dnnl::convolution_forward fwd_;
  dnnl::convolution_backward_data bwd_data_;
  dnnl::convolution_backward_weights bwd_weights_;
  MemoryPair f_src_, f_w_, f_dst_, d_ddst_, d_w_, d_dsrc_, w_src_, w_ddst_, w_dw_;
  memory b_mem_, db_mem_;
  std::vector<float> y_, dx_, dw_,
      db_;  // y: (N, O, OH, OW); dx: (N, C, H, W); dw, db as the params
};

}  // namespace

ModulePtr make_conv2d(const Conv2dSpec& spec, bool blocked) {
  return std::make_unique<Conv2d>(spec, blocked);
}

}  // namespace ft::nn::cpu

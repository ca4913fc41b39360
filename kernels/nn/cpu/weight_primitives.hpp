// The oneDNN execution the two weight layers (Conv2d, Linear) share: a forward, a backward-data
// and a backward-weights primitive, MemoryPairs that reorder between the plain user layouts and
// the primitives' own, and Parameter::grad accumulation (oneDNN overwrites its gradient outputs,
// PyTorch accumulates across backward calls: a dL/dweight in the primitive's own layout is added
// in by the reorder back to the user layout). The layers build the primitive descs; this runs
// them.
// An input that two primitives take in one layout (src for forward and backward-weights, weights
// for forward and backward-data, diff_dst for both backward passes) is reordered once: in bf16
// every such reorder is also a conversion.
#pragma once

#include <unordered_map>
#include <vector>

#include "kernels/nn/cpu/dnnl_memory.hpp"
#include "kernels/nn/layer_params.hpp"

namespace ft::nn::cpu {

template <class Fwd, class BwdData, class BwdWeights>
class WeightPrimitives {
 public:
  // src_md, w_md, dst_md: the plain user layouts; b_md: the bias desc (unused without a bias).
  // w: null when the layer computes its weight gradients itself (backward() then skips them).
  void build(const typename Fwd::primitive_desc& f, const typename BwdData::primitive_desc& d,
             const typename BwdWeights::primitive_desc* w, const dnnl::memory::desc& src_md,
             const dnnl::memory::desc& w_md, const dnnl::memory::desc& dst_md,
             const dnnl::memory::desc& b_md, const WeightBias& p) {
    fwd_ = Fwd(f);
    bwd_data_ = BwdData(d);
    f_src_ = MemoryPair(src_md, f.src_desc());
    f_w_ = MemoryPair(w_md, f.weights_desc());
    f_dst_ = MemoryPair(dst_md, f.dst_desc());
    d_ddst_ = MemoryPair(dst_md, d.diff_dst_desc());
    share_w_ = d.weights_desc() == f.weights_desc();
    if (!share_w_) d_w_ = MemoryPair(w_md, d.weights_desc());
    d_dsrc_ = MemoryPair(src_md, d.diff_src_desc());
    if (p.has_bias) b_mem_ = dnnl::memory(b_md, engine(), DNNL_MEMORY_NONE);
    weights_ = w != nullptr;
    if (weights_) build_weights(f, d, *w, src_md, w_md, dst_md, b_md, p);
  }

  // The last forward's input.
  const float* input() const { return x_; }

  // y = f(x); x must stay valid until backward() returns.
  void forward(const float* x, const WeightBias& p, float* y) {
    x_ = x;
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, f_src_.in(x)},
                                               {DNNL_ARG_WEIGHTS, f_w_.in(p.weight.value.data())},
                                               {DNNL_ARG_DST, f_dst_.out(y)}};
    if (p.has_bias) {
      b_mem_.set_data_handle(const_cast<float*>(p.bias.value.data()));
      args.emplace(DNNL_ARG_BIAS, b_mem_);
    }
    execute(fwd_, args);
    f_dst_.store();
    stream().wait();
  }

  // Accumulates dL/dweight and dL/dbias into p's grads (unless built without w); writes dL/dx
  // unless dx is null. The weights must be those of the last forward (the optimizer steps after
  // backward).
  void backward(const float* dy, WeightBias& p, float* dx) {
    if (dx) {
      execute(bwd_data_,
              {{DNNL_ARG_DIFF_DST, d_ddst_.in(dy)},
               {DNNL_ARG_WEIGHTS, share_w_ ? f_w_.prim() : d_w_.in(p.weight.value.data())},
               {DNNL_ARG_DIFF_SRC, d_dsrc_.out(dx)}});
      d_dsrc_.store();
    }
    if (!weights_) {
      stream().wait();
      return;
    }
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, share_src_ ? f_src_.prim() : w_src_.in(x_)},
        {DNNL_ARG_DIFF_DST, share_ddst_ && dx ? d_ddst_.prim() : w_ddst_.in(dy)},
        {DNNL_ARG_DIFF_WEIGHTS, w_dw_.out(w_dw_.reordered() ? p.weight.grad.data() : dw_.data())}};
    if (p.has_bias) {
      db_mem_.set_data_handle(db_.data());
      args.emplace(DNNL_ARG_DIFF_BIAS, db_mem_);
    }
    execute(bwd_weights_, args);
    w_dw_.store();
    stream().wait();
    for (std::size_t i = 0; i < dw_.size(); ++i) p.weight.grad[i] += dw_[i];  // not reordered
    for (std::size_t i = 0; i < db_.size(); ++i) p.bias.grad[i] += db_[i];
  }

 private:
  void build_weights(const typename Fwd::primitive_desc& f,
                     const typename BwdData::primitive_desc& d,
                     const typename BwdWeights::primitive_desc& w, const dnnl::memory::desc& src_md,
                     const dnnl::memory::desc& w_md, const dnnl::memory::desc& dst_md,
                     const dnnl::memory::desc& b_md, const WeightBias& p) {
    bwd_weights_ = BwdWeights(w);
    share_src_ = w.src_desc() == f.src_desc();
    if (!share_src_) w_src_ = MemoryPair(src_md, w.src_desc());
    share_ddst_ = w.diff_dst_desc() == d.diff_dst_desc();
    w_ddst_ = MemoryPair(dst_md, w.diff_dst_desc());
    w_dw_ = MemoryPair(w_md, w.diff_weights_desc(), true);
    if (p.has_bias) db_mem_ = dnnl::memory(b_md, engine(), DNNL_MEMORY_NONE);
    dw_.assign(w_dw_.reordered() ? 0 : p.weight.value.size(), 0.f);
    db_.assign(p.bias.value.size(), 0.f);
  }

  const float* x_ = nullptr;
  Fwd fwd_;
  BwdData bwd_data_;
  BwdWeights bwd_weights_;
  MemoryPair f_src_, f_w_, f_dst_, d_ddst_, d_w_, d_dsrc_, w_src_, w_ddst_, w_dw_;
  bool share_src_ = false, share_w_ = false, share_ddst_ = false;  // see the file comment
  bool weights_ = true;
  dnnl::memory b_mem_, db_mem_;
  // oneDNN's gradient outputs in the user layout, added into the parameters' grads (dw_: only
  // when w_dw_ does not reorder, which adds by itself).
  std::vector<float> dw_, db_;
};

}  // namespace ft::nn::cpu

// MaxPool2d (floor mode, -inf padding) with oneDNN pooling primitives in the input's layout and
// type, and global average pooling with own loops (any layout, f32 or bf16 in; (N, C, 1, 1) NCHW
// f32 out, summed in f32).
#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/nn/cpu/bf16.hpp"
#include "kernels/nn/cpu/dnnl_memory.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/geometry.hpp"

namespace ft::nn::cpu {
namespace {

using dnnl::memory;

class MaxPool final : public Module {
 public:
  explicit MaxPool(const MaxPoolSpec& spec) : spec_(spec) { check_max_pool_spec(spec, "max_pool"); }

  Shape setup(const Shape& in) override {
    if (in == in_) return out_;
    out_ = max_pool_output(spec_, in, "max_pool");
    out_.dtype = in.dtype;
    in_ = in;
    const AxisPadding pad = pool_padding(spec_);
    const int pr_h = reached_end_padding(in.h, out_.h, pad, spec_.kernel, spec_.stride, 1);
    const int pr_w = reached_end_padding(in.w, out_.w, pad, spec_.kernel, spec_.stride, 1);
    const memory::dims k{spec_.kernel, spec_.kernel}, s{spec_.stride, spec_.stride},
        pl{spec_.padding, spec_.padding}, pr{pr_h, pr_w};
    const memory::desc src_md = md_of(in_), dst_md = md_of(out_);
    dnnl::pooling_forward::primitive_desc fwd_pd(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::pooling_max,
                                    src_md, dst_md, s, k, pl, pr),
        scratchpad_attr(), engine());
    dnnl::pooling_backward::primitive_desc bwd_pd(
        dnnl::pooling_backward::desc(dnnl::algorithm::pooling_max, src_md, dst_md, s, k, pl, pr),
        scratchpad_attr(), engine(), fwd_pd);
    fwd_ = dnnl::pooling_forward(fwd_pd);
    bwd_ = dnnl::pooling_backward(bwd_pd);
    workspace_ = memory(fwd_pd.workspace_desc(), engine());
    x_mem_ = memory(src_md, engine(), DNNL_MEMORY_NONE);
    dx_mem_ = memory(src_md, engine(), DNNL_MEMORY_NONE);
    y_mem_ = memory(dst_md, engine(), DNNL_MEMORY_NONE);
    dy_mem_ = memory(dst_md, engine(), DNNL_MEMORY_NONE);
    y_.assign(out_.buffer_floats(), 0.f);
    dx_.assign(in.buffer_floats(), 0.f);
    return out_;
  }

  const float* forward(const float* x, bool) override {
    x_mem_.set_data_handle(const_cast<float*>(x));
    y_mem_.set_data_handle(y_.data());
    execute(fwd_,
            {{DNNL_ARG_SRC, x_mem_}, {DNNL_ARG_DST, y_mem_}, {DNNL_ARG_WORKSPACE, workspace_}});
    stream().wait();
    return y_.data();
  }

  const float* backward(const float* dy) override {
    dy_mem_.set_data_handle(const_cast<float*>(dy));
    dx_mem_.set_data_handle(dx_.data());
    execute(bwd_, {{DNNL_ARG_DIFF_DST, dy_mem_},
                   {DNNL_ARG_DIFF_SRC, dx_mem_},
                   {DNNL_ARG_WORKSPACE, workspace_}});
    stream().wait();
    return dx_.data();
  }

 private:
  MaxPoolSpec spec_;
  Shape in_, out_;
  dnnl::pooling_forward fwd_;
  dnnl::pooling_backward bwd_;
  memory workspace_, x_mem_, dx_mem_, y_mem_, dy_mem_;
  std::vector<float> y_, dx_;
};

// Element (n, c, p) of a plane p = h * W + w sits at ((n * Cb + c / b) * HW + p) * b + c % b.
template <class T>
void channel_means(const Shape& in, const T* x, float* y) {
  const int b = in.channel_block(), cb = in.padded_c() / b, c = in.c;
  const std::int64_t hw = std::int64_t{in.h} * in.w;
#pragma omp parallel for schedule(static) if (in.storage() >= kParallelMin)
  for (int nb = 0; nb < in.n * cb; ++nb) {
    const T* xp = x + std::int64_t{nb} * hw * b;
    float acc[16] = {};
    for (std::int64_t p = 0; p < hw; ++p)
      for (int k = 0; k < b; ++k) acc[k] += to_f32(xp[p * b + k]);
    const int n = nb / cb, c0 = (nb % cb) * b;
    for (int k = 0; k < b && c0 + k < c; ++k) y[std::int64_t{n} * c + c0 + k] = acc[k] / float(hw);
  }
}

// dx = dy / HW broadcast over each plane; padded channels get zero.
template <class T>
void spread_means(const Shape& in, const float* dy, T* dx) {
  const int b = in.channel_block(), cb = in.padded_c() / b, c = in.c;
  const std::int64_t hw = std::int64_t{in.h} * in.w;
#pragma omp parallel for schedule(static) if (in.storage() >= kParallelMin)
  for (int nb = 0; nb < in.n * cb; ++nb) {
    T* dxp = dx + std::int64_t{nb} * hw * b;
    const int n = nb / cb, c0 = (nb % cb) * b;
    T g[16];
    for (int k = 0; k < b; ++k)
      store(g[k], c0 + k < c ? dy[std::int64_t{n} * c + c0 + k] / float(hw) : 0.f);
    for (std::int64_t p = 0; p < hw; ++p)
      for (int k = 0; k < b; ++k) raw(dxp[p * b + k]) = raw(g[k]);
  }
}

class GlobalAvgPool final : public Module {
 public:
  Shape setup(const Shape& in) override {
    if (!(in == in_)) {
      in_ = in;
      y_.assign(std::int64_t{in.n} * in.c, 0.f);
      dx_.assign(in.buffer_floats(), 0.f);
    }
    return Shape{in.n, in.c, 1, 1, Layout::nchw};
  }

  const float* forward(const float* x, bool) override {
    with_type(in_.dtype, [&](auto* t) {
      using T = std::remove_pointer_t<decltype(t)>;
      channel_means(in_, typed<T>(x), y_.data());
    });
    return y_.data();
  }

  const float* backward(const float* dy) override {
    with_type(in_.dtype, [&](auto* t) {
      using T = std::remove_pointer_t<decltype(t)>;
      spread_means(in_, dy, typed<T>(dx_.data()));
    });
    return dx_.data();
  }

 private:
  Shape in_;
  std::vector<float> y_, dx_;  // y: (N, C) f32; dx: in_'s layout and type
};

}  // namespace

ModulePtr make_max_pool(const MaxPoolSpec& spec) { return std::make_unique<MaxPool>(spec); }
ModulePtr make_global_avg_pool() { return std::make_unique<GlobalAvgPool>(); }

}  // namespace ft::nn::cpu

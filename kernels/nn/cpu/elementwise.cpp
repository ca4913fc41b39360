// Own-loop elementwise layers, layout-agnostic (they run over the padded storage): ReLU and the
// residual join y = relu?(a + b) in f32 or bf16 (a sum rounded once), Dropout (Philox-keyed mask,
// f32); and the layout and type changes: ToLayout and Flatten (to f32 NCHW: free on f32 NCHW, a
// oneDNN reorder otherwise).
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/nn/cpu/bf16.hpp"
#include "kernels/nn/cpu/dnnl_memory.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/random/philox.hpp"

namespace ft::nn::cpu {
namespace {

// y = x > 0 ? x : 0, or with a mask tensor m: y = m > 0 ? x : 0 (ReLU's backward).
template <class T>
void relu_mask(const T* m, const T* x, T* y, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) raw(y[i]) = masked(raw(m[i]), raw(x[i]));
}

// y = a + b, then ReLU when Relu; computed in f32, rounded once to T. (A compile-time Relu keeps
// the bf16 loop vectorised.)
template <bool Relu, class T>
void add(const T* a, const T* b, T* y, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (std::int64_t i = 0; i < n; ++i) {
    const float s = to_f32(a[i]) + to_f32(b[i]);
    store(y[i], Relu ? (s > 0.f ? s : 0.f) : s);
  }
}

class Relu final : public Module {
 public:
  Shape setup(const Shape& in) override {
    if (!(in == in_)) {
      in_ = in;
      y_.assign(in.buffer_floats(), 0.f);
      dx_.assign(in.buffer_floats(), 0.f);
    }
    return in_;
  }
  const float* forward(const float* x, bool) override {
    with_type(in_.dtype, [&](auto* t) {
      using T = std::remove_pointer_t<decltype(t)>;
      relu_mask(typed<T>(x), typed<T>(x), typed<T>(y_.data()), in_.storage());
    });
    return y_.data();
  }
  const float* backward(const float* dy) override {
    with_type(in_.dtype, [&](auto* t) {
      using T = std::remove_pointer_t<decltype(t)>;
      relu_mask(typed<T>(y_.data()), typed<T>(dy), typed<T>(dx_.data()), in_.storage());
    });
    return dx_.data();
  }

 private:
  Shape in_;
  std::vector<float> y_, dx_;
};

// Reorders to a target layout and type (none: the input's) and back in backward; passes pointers
// through when the memory is already the same (same type, and same layout or 1x1 planes with no
// channel padding).
class ToLayout final : public Module {
 public:
  ToLayout(Layout layout, std::optional<DataType> dtype) : layout_(layout), dtype_(dtype) {}
  Shape setup(const Shape& in) override {
    Shape out = in;
    out.layout = layout_;
    out.dtype = dtype_.value_or(in.dtype);
    if (in == in_) return out;
    in_ = in;
    same_ = in.dtype == out.dtype &&
            (in.layout == layout_ ||
             (in.h == 1 && in.w == 1 && in.padded_c() == in.c && out.padded_c() == out.c));
    if (!same_) {
      in_mem_ = dnnl::memory(md_of(in), engine(), DNNL_MEMORY_NONE);
      out_mem_ = dnnl::memory(md_of(out), engine(), DNNL_MEMORY_NONE);
      to_out_ = make_reorder(in_mem_, out_mem_);
      to_in_ = make_reorder(out_mem_, in_mem_);
      y_.assign(out.buffer_floats(), 0.f);
      dx_.assign(in.buffer_floats(), 0.f);
    }
    return out;
  }
  const float* forward(const float* x, bool) override {
    if (same_) return x;
    in_mem_.set_data_handle(const_cast<float*>(x));
    out_mem_.set_data_handle(y_.data());
    execute(to_out_, {{DNNL_ARG_FROM, in_mem_}, {DNNL_ARG_TO, out_mem_}});
    stream().wait();
    return y_.data();
  }
  const float* backward(const float* dy) override {
    if (same_) return dy;
    out_mem_.set_data_handle(const_cast<float*>(dy));
    in_mem_.set_data_handle(dx_.data());
    execute(to_in_, {{DNNL_ARG_FROM, out_mem_}, {DNNL_ARG_TO, in_mem_}});
    stream().wait();
    return dx_.data();
  }

 private:
  Layout layout_;
  std::optional<DataType> dtype_;
  Shape in_;
  bool same_ = true;
  dnnl::memory in_mem_, out_mem_;
  dnnl::reorder to_out_, to_in_;
  std::vector<float> y_, dx_;
};

// (N, C, H, W) in any layout and type -> (N, C*H*W, 1, 1) NCHW f32, feature order
// c*H*W + h*W + w as torch.flatten. (The heads after it are small: f32 keeps Dropout simple.)
class Flatten final : public Module {
 public:
  Shape setup(const Shape& in) override {
    const Shape plain = to_plain_.setup(in);
    return Shape{plain.n, static_cast<int>(plain.per_sample()), 1, 1, Layout::nchw};
  }
  const float* forward(const float* x, bool training) override {
    return to_plain_.forward(x, training);
  }
  const float* backward(const float* dy) override { return to_plain_.backward(dy); }

 private:
  ToLayout to_plain_{Layout::nchw, DataType::f32};
};

// Zeroes each element with probability p and scales the rest by 1 / (1 - p) in training; the
// identity in eval. Element (n, k) keeps iff philox(seed, step, n, index).uniform() #k >= p.
class Dropout final : public Module {
 public:
  Dropout(float p, int index) : p_(p), index_(index) {
    if (!(p >= 0.f && p <= 1.f))
      throw std::invalid_argument("dropout: p must be in [0, 1], got " + std::to_string(p));
  }
  Shape setup(const Shape& in) override {
    if (!(in == in_)) {
      if (in.layout != Layout::nchw || in.dtype != DataType::f32)
        throw std::invalid_argument("dropout: needs an NCHW f32 input, got " + to_string(in));
      in_ = in;
      mask_.assign(in.numel(), 0.f);
      y_.assign(in.numel(), 0.f);
      dx_.assign(in.numel(), 0.f);
    }
    return in_;
  }
  void set_dropout_key(std::uint64_t seed, std::uint64_t step) override {
    seed_ = seed;
    step_ = step;
  }
  const float* forward(const float* x, bool training) override {
    training_ = training && p_ > 0.f;
    if (!training_) return x;
    const std::int64_t per = in_.per_sample();
    const float scale = p_ < 1.f ? 1.f / (1.f - p_) : 0.f;
#pragma omp parallel for schedule(static) if (in_.numel() >= kParallelMin)
    for (int n = 0; n < in_.n; ++n) {
      rng::Philox gen(seed_, static_cast<std::uint32_t>(step_), static_cast<std::uint64_t>(n),
                      static_cast<std::uint32_t>(index_));
      for (std::int64_t k = 0; k < per; ++k) {
        const std::int64_t i = n * per + k;
        mask_[i] = gen.uniform() >= p_ ? scale : 0.f;
        y_[i] = x[i] * mask_[i];
      }
    }
    return y_.data();
  }
  const float* backward(const float* dy) override {
    if (!training_) return dy;
    const std::int64_t n = in_.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
    for (std::int64_t i = 0; i < n; ++i) dx_[i] = dy[i] * mask_[i];
    return dx_.data();
  }

 private:
  float p_;
  int index_;
  std::uint64_t seed_ = 0, step_ = 0;
  bool training_ = false;
  Shape in_;
  std::vector<float> mask_, y_, dx_;
};

class ResidualAddCpu final : public ResidualAdd {
 public:
  explicit ResidualAddCpu(bool relu) : relu_(relu) {}
  void setup(const Shape& out, const Shape& in) override {
    if (!(out == out_)) {
      out_ = out;
      y_.assign(out.buffer_floats(), 0.f);
      dsum_.assign(out.buffer_floats(), 0.f);
    }
    if (!(in == in_)) {
      in_ = in;
      dx_.assign(in.buffer_floats(), 0.f);
    }
  }
  const float* forward(const float* a, const float* b) override {
    with_type(out_.dtype, [&](auto* t) {
      using T = std::remove_pointer_t<decltype(t)>;
      if (relu_)
        add<true>(typed<T>(a), typed<T>(b), typed<T>(y_.data()), out_.storage());
      else
        add<false>(typed<T>(a), typed<T>(b), typed<T>(y_.data()), out_.storage());
    });
    return y_.data();
  }
  const float* backward(const float* dy) override {
    if (!relu_) return dy;
    with_type(out_.dtype, [&](auto* t) {
      using T = std::remove_pointer_t<decltype(t)>;
      relu_mask(typed<T>(y_.data()), typed<T>(dy), typed<T>(dsum_.data()), out_.storage());
    });
    return dsum_.data();
  }
  const float* sum_input_grads(const float* d1, const float* d2) override {
    with_type(in_.dtype, [&](auto* t) {
      using T = std::remove_pointer_t<decltype(t)>;
      add<false>(typed<T>(d1), typed<T>(d2), typed<T>(dx_.data()), in_.storage());
    });
    return dx_.data();
  }

 private:
  bool relu_;
  Shape out_, in_;
  std::vector<float> y_, dsum_, dx_;  // in out_'s (y, dsum) or in_'s (dx) layout and type
};

class CpuLayers final : public LayerFactory {
 public:
  CpuLayers(bool blocked, Precision precision) : blocked_(blocked), precision_(precision) {}
  ModulePtr conv2d(const Conv2dSpec& spec) const override {
    return make_conv2d(spec, blocked_, precision_);
  }
  ModulePtr batch_norm(const BatchNormSpec& spec) const override { return make_batch_norm(spec); }
  ModulePtr linear(const LinearSpec& spec) const override { return make_linear(spec, precision_); }
  ModulePtr relu() const override { return std::make_unique<Relu>(); }
  ModulePtr max_pool(const MaxPoolSpec& spec) const override { return make_max_pool(spec); }
  ModulePtr global_avg_pool() const override { return make_global_avg_pool(); }
  ModulePtr flatten() const override { return std::make_unique<Flatten>(); }
  ModulePtr to_layout(Layout layout) const override {
    return std::make_unique<ToLayout>(layout, std::nullopt);
  }
  ModulePtr convert(Layout layout, DataType dtype) const override {
    return std::make_unique<ToLayout>(layout, dtype);
  }
  ModulePtr dropout(float p, int index) const override {
    return std::make_unique<Dropout>(p, index);
  }
  std::unique_ptr<ResidualAdd> residual_add(bool relu) const override {
    return std::make_unique<ResidualAddCpu>(relu);
  }

 private:
  bool blocked_;
  Precision precision_;
};

}  // namespace

}  // namespace ft::nn::cpu

namespace ft::nn {

const LayerFactory& cpu_layers(bool blocked, Precision precision) {
  static const cpu::CpuLayers plain(false, Precision::f32), with_blocks(true, Precision::f32),
      plain_bf16(false, Precision::bf16), with_blocks_bf16(true, Precision::bf16);
  if (precision == Precision::f32) return blocked ? with_blocks : plain;
  static const bool checked = (cpu::require_bf16(dnnl::get_effective_cpu_isa()), true);
  (void)checked;
  return blocked ? with_blocks_bf16 : plain_bf16;
}

}  // namespace ft::nn

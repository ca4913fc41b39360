// Own-loop elementwise layers: ReLU, Dropout (Philox-keyed mask), Flatten (a shape change only)
// and the residual join y = relu?(a + b).
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/nn/cpu/layers.hpp"
#include "kernels/random/philox.hpp"

namespace ft::nn::cpu {
namespace {

class Relu final : public Module {
 public:
  Shape setup(const Shape& in) override {
    if (!(in == in_)) {
      in_ = in;
      y_.assign(in.numel(), 0.f);
      dx_.assign(in.numel(), 0.f);
    }
    return in_;
  }
  const float* forward(const float* x, bool) override {
    const std::int64_t n = in_.numel();
    float* y = y_.data();
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
    return y;
  }
  const float* backward(const float* dy) override {
    const std::int64_t n = in_.numel();
    const float* y = y_.data();
    float* dx = dx_.data();
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
    return dx;
  }

 private:
  Shape in_;
  std::vector<float> y_, dx_;
};

class Flatten final : public Module {
 public:
  Shape setup(const Shape& in) override { return Shape{in.n, static_cast<int>(in.per_sample()), 1, 1}; }
  const float* forward(const float* x, bool) override { return x; }
  const float* backward(const float* dy) override { return dy; }
};

// Zeroes each element with probability p and scales the rest by 1 / (1 - p) in training; the
// identity in eval. Element (n, k) keeps iff philox(seed, step, n, index).uniform() #k >= p.
class Dropout final : public Module {
 public:
  Dropout(float p, int index) : p_(p), index_(index) {
    if (!(p >= 0.f && p <= 1.f)) throw std::invalid_argument("dropout: p must be in [0, 1], got " + std::to_string(p));
  }
  Shape setup(const Shape& in) override {
    if (!(in == in_)) {
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
#pragma omp parallel for schedule(static)
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
#pragma omp parallel for simd schedule(static)
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
      y_.assign(out.numel(), 0.f);
      dsum_.assign(out.numel(), 0.f);
    }
    if (!(in == in_)) {
      in_ = in;
      dx_.assign(in.numel(), 0.f);
    }
  }
  const float* forward(const float* a, const float* b) override {
    const std::int64_t n = out_.numel();
    float* y = y_.data();
    if (relu_) {
#pragma omp parallel for simd schedule(static)
      for (std::int64_t i = 0; i < n; ++i) {
        const float s = a[i] + b[i];
        y[i] = s > 0.f ? s : 0.f;
      }
    } else {
#pragma omp parallel for simd schedule(static)
      for (std::int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
    }
    return y;
  }
  const float* backward(const float* dy) override {
    if (!relu_) return dy;
    const std::int64_t n = out_.numel();
    const float* y = y_.data();
    float* d = dsum_.data();
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < n; ++i) d[i] = y[i] > 0.f ? dy[i] : 0.f;
    return d;
  }
  const float* sum_input_grads(const float* d1, const float* d2) override {
    const std::int64_t n = in_.numel();
    float* dx = dx_.data();
#pragma omp parallel for simd schedule(static)
    for (std::int64_t i = 0; i < n; ++i) dx[i] = d1[i] + d2[i];
    return dx;
  }

 private:
  bool relu_;
  Shape out_, in_;
  std::vector<float> y_, dsum_, dx_;
};

class CpuLayers final : public LayerFactory {
 public:
  ModulePtr conv2d(const Conv2dSpec& spec) const override { return make_conv2d(spec); }
  ModulePtr batch_norm(const BatchNormSpec& spec) const override { return make_batch_norm(spec); }
  ModulePtr linear(const LinearSpec& spec) const override { return make_linear(spec); }
  ModulePtr relu() const override { return std::make_unique<Relu>(); }
  ModulePtr max_pool(const MaxPoolSpec& spec) const override { return make_max_pool(spec); }
  ModulePtr global_avg_pool() const override { return make_global_avg_pool(); }
  ModulePtr flatten() const override { return std::make_unique<Flatten>(); }
  ModulePtr dropout(float p, int index) const override { return std::make_unique<Dropout>(p, index); }
  std::unique_ptr<ResidualAdd> residual_add(bool relu) const override {
    return std::make_unique<ResidualAddCpu>(relu);
  }
};

}  // namespace

}  // namespace ft::nn::cpu

namespace ft::nn {

const LayerFactory& cpu_layers() {
  static const cpu::CpuLayers layers;
  return layers;
}

}  // namespace ft::nn

// The CUDA layers on own kernels (kernels.cuh, checked against the CPU layers under a host
// emulation): ReLU, max and global average pooling, flatten, layout (the identity: NCHW only),
// dropout, the residual join; and cuda_layers(), the factory of every CUDA layer.
#include <algorithm>
#include <memory>

#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"
#include "kernels/nn/geometry.hpp"

namespace ft::nn::cuda {
namespace {

class Relu final : public Module {
 public:
  Shape setup(const Shape& in) override {
    require_nchw(in, "relu");
    in_ = in;
    y_.resize(static_cast<std::size_t>(in.numel()));
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return in;
  }
  const float* forward(const float* x, bool) override {
    relu_forward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(y_.data(), x,
                                                                             in_.numel());
    check_launch("relu_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    relu_backward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(dx_.data(), y_.data(),
                                                                              dy, in_.numel());
    check_launch("relu_backward");
    return dx_.data();
  }

 private:
  Shape in_;
  DeviceArray y_, dx_;
};

class MaxPool final : public Module {
 public:
  explicit MaxPool(const MaxPoolSpec& spec) : spec_(spec) {
    check_max_pool_spec(spec, "max_pool (cuda)");
  }
  Shape setup(const Shape& in) override {
    require_nchw(in, "max_pool");
    out_ = max_pool_output(spec_, in, "max_pool (cuda)");
    g_ =
        PoolGeom{in.n, in.c, in.h, in.w, out_.h, out_.w, spec_.kernel, spec_.stride, spec_.padding};
    in_ = in;
    y_.resize(static_cast<std::size_t>(out_.numel()));
    argmax_.resize(static_cast<std::size_t>(out_.numel()));  // int32 in float-sized slots
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return out_;
  }
  const float* forward(const float* x, bool) override {
    max_pool_forward<<<blocks_for(out_.numel()), kThreads, 0, runtime().stream>>>(
        y_.data(), reinterpret_cast<std::int32_t*>(argmax_.data()), x, g_);
    check_launch("max_pool_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    max_pool_backward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(
        dx_.data(), dy, reinterpret_cast<const std::int32_t*>(argmax_.data()), g_);
    check_launch("max_pool_backward");
    return dx_.data();
  }

 private:
  MaxPoolSpec spec_;
  PoolGeom g_{};
  Shape in_, out_;
  DeviceArray y_, argmax_, dx_;
};

class GlobalAvgPool final : public Module {
 public:
  Shape setup(const Shape& in) override {
    require_nchw(in, "global_avg_pool");
    in_ = in;
    y_.resize(static_cast<std::size_t>(std::int64_t{in.n} * in.c));
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return Shape{in.n, in.c, 1, 1, Layout::nchw};
  }
  const float* forward(const float* x, bool) override {
    const std::int64_t nc = std::int64_t{in_.n} * in_.c;
    global_avg_pool_forward<<<blocks_for(nc), kThreads, 0, runtime().stream>>>(y_.data(), x, nc,
                                                                               in_.h * in_.w);
    check_launch("global_avg_pool_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    const std::int64_t nc = std::int64_t{in_.n} * in_.c;
    global_avg_pool_backward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(
        dx_.data(), dy, nc, in_.h * in_.w);
    check_launch("global_avg_pool_backward");
    return dx_.data();
  }

 private:
  Shape in_;
  DeviceArray y_, dx_;
};

// NCHW tensors are already flat per sample: (N, C, H, W) -> (N, C*H*W, 1, 1) moves no data.
class Flatten final : public Module {
 public:
  Shape setup(const Shape& in) override {
    require_nchw(in, "flatten");
    return Shape{in.n, static_cast<int>(in.per_sample()), 1, 1, Layout::nchw};
  }
  const float* forward(const float* x, bool) override { return x; }
  const float* backward(const float* dy) override { return dy; }
};

// Every CUDA layer keeps NCHW, so a layout change is the identity (only NCHW is accepted).
class ToLayout final : public Module {
 public:
  explicit ToLayout(Layout layout) : layout_(layout) {}
  Shape setup(const Shape& in) override {
    if (layout_ != Layout::nchw || in.layout != Layout::nchw)
      throw std::invalid_argument("to_layout (cuda): CUDA layers use NCHW only, got " +
                                  to_string(in));
    return in;
  }
  const float* forward(const float* x, bool) override { return x; }
  const float* backward(const float* dy) override { return dy; }

 private:
  Layout layout_;
};

class Dropout final : public Module {
 public:
  Dropout(float p, int index) : p_(p), index_(index) {
    if (!(p >= 0.f && p <= 1.f))
      throw std::invalid_argument("dropout: p must be in [0, 1], got " + std::to_string(p));
  }
  Shape setup(const Shape& in) override {
    require_nchw(in, "dropout");
    in_ = in;
    mask_.resize(static_cast<std::size_t>(in.numel()));
    y_.resize(static_cast<std::size_t>(in.numel()));
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return in;
  }
  void set_dropout_key(std::uint64_t seed, std::uint64_t step) override {
    seed_ = seed;
    step_ = step;
  }
  const float* forward(const float* x, bool training) override {
    training_ = training && p_ > 0.f;
    if (!training_) return x;
    dropout_forward<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(
        y_.data(), mask_.data(), x, in_.per_sample(), in_.numel(), p_, seed_, step_, index_);
    check_launch("dropout_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    if (!training_) return dy;
    mul_arrays<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(
        dx_.data(), dy, mask_.data(), in_.numel());
    check_launch("mul_arrays");
    return dx_.data();
  }

 private:
  float p_;
  int index_;
  std::uint64_t seed_ = 0, step_ = 0;
  bool training_ = false;
  Shape in_;
  DeviceArray mask_, y_, dx_;
};

class ResidualAddCuda final : public ResidualAdd {
 public:
  explicit ResidualAddCuda(bool relu) : relu_(relu) {}
  void setup(const Shape& out, const Shape& in) override {
    require_nchw(out, "residual_add");
    out_ = out;
    in_ = in;
    y_.resize(static_cast<std::size_t>(out.numel()));
    dsum_.resize(static_cast<std::size_t>(out.numel()));
    dx_.resize(static_cast<std::size_t>(in.numel()));
  }
  const float* forward(const float* a, const float* b) override {
    add_forward<<<blocks_for(out_.numel()), kThreads, 0, runtime().stream>>>(y_.data(), a, b,
                                                                             out_.numel(), relu_);
    check_launch("add_forward");
    return y_.data();
  }
  const float* backward(const float* dy) override {
    if (!relu_) return dy;
    relu_backward<<<blocks_for(out_.numel()), kThreads, 0, runtime().stream>>>(
        dsum_.data(), y_.data(), dy, out_.numel());
    check_launch("relu_backward");
    return dsum_.data();
  }
  const float* sum_input_grads(const float* d1, const float* d2) override {
    add_arrays<<<blocks_for(in_.numel()), kThreads, 0, runtime().stream>>>(dx_.data(), d1, d2,
                                                                           in_.numel());
    check_launch("add_arrays");
    return dx_.data();
  }

 private:
  bool relu_;
  Shape out_, in_;
  DeviceArray y_, dsum_, dx_;
};

class CudaLayers final : public LayerFactory {
 public:
  explicit CudaLayers(Precision precision) : precision_(precision) {}
  bool on_device() const override { return true; }
  ModulePtr conv2d(const Conv2dSpec& spec) const override { return make_conv2d(spec, precision_); }
  ModulePtr batch_norm(const BatchNormSpec& spec) const override { return make_batch_norm(spec); }
  ModulePtr linear(const LinearSpec& spec) const override { return make_linear(spec, precision_); }
  ModulePtr relu() const override { return std::make_unique<Relu>(); }
  ModulePtr max_pool(const MaxPoolSpec& spec) const override {
    return std::make_unique<MaxPool>(spec);
  }
  ModulePtr global_avg_pool() const override { return std::make_unique<GlobalAvgPool>(); }
  ModulePtr flatten() const override { return std::make_unique<Flatten>(); }
  ModulePtr to_layout(Layout layout) const override { return std::make_unique<ToLayout>(layout); }
  ModulePtr dropout(float p, int index) const override {
    return std::make_unique<Dropout>(p, index);
  }
  std::unique_ptr<ResidualAdd> residual_add(bool relu) const override {
    return std::make_unique<ResidualAddCuda>(relu);
  }

 private:
  Precision precision_;
};

}  // namespace
}  // namespace ft::nn::cuda

namespace ft::nn {

const LayerFactory& cuda_layers(Precision precision) {
  std::string why;
  if (!cuda::available(&why)) throw std::runtime_error("CUDA layers: " + why);
  static const cuda::CudaLayers f32(Precision::f32), bf16(Precision::bf16);
  return precision == Precision::bf16 ? bf16 : f32;
}

}  // namespace ft::nn

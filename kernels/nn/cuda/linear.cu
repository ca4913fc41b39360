// Linear on cuBLAS (see layers.cuh): row-major (N, in) x (out, in)^T computed as column-major GEMMs
// without TF32; bias add and bias gradient as own kernels.
#include <memory>

#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"

namespace ft::nn::cuda {
namespace {

// ---- Linear (cuBLAS; row-major (N, in) x (out, in)^T as column-major GEMMs) --------------------
class Linear final : public Module {
 public:
  explicit Linear(const LinearSpec& spec) : spec_(spec) {
    if (spec.in_features <= 0 || spec.out_features <= 0)
      throw std::invalid_argument("linear (cuda): bad features");
    p_ = WeightBias({spec.out_features, spec.in_features}, spec.bias);
    w_.attach(p_.weight);
    if (spec.bias) b_.attach(p_.bias);
  }

  Shape setup(const Shape& in) override {
    require_nchw(in, "linear");
    if (in.per_sample() != spec_.in_features)
      throw std::invalid_argument(
          "linear (cuda): input " + to_string(in) + " has " + std::to_string(in.per_sample()) +
          " features per sample, expected " + std::to_string(spec_.in_features));
    if (in == in_) return out_;
    in_ = in;
    out_ = Shape{in.n, spec_.out_features, 1, 1};
    y_.resize(static_cast<std::size_t>(out_.numel()));
    dx_.resize(static_cast<std::size_t>(in.numel()));
    return out_;
  }

  const float* forward(const float* x, bool) override {
    Runtime& rt = runtime();
    x_ = x;
    const int n = in_.n, in = spec_.in_features, out = spec_.out_features;
    // Y (out x n, column-major) = W^T' (W stored column-major as in x out, transposed) * X (in x n)
    check(cublasSgemm(rt.blas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &kOne, w_.value.data(), in, x,
                      in, &kZero, y_.data(), out),
          "cublasSgemm (linear forward)");
    if (spec_.bias) {
      add_bias_rows<<<blocks_for(out_.numel()), kThreads, 0, rt.stream>>>(y_.data(),
                                                                          b_.value.data(), n, out);
      check_launch("add_bias_rows");
    }
    return y_.data();
  }

  const float* backward(const float* dy) override {
    Runtime& rt = runtime();
    const int n = in_.n, in = spec_.in_features, out = spec_.out_features;
    if (spec_.bias) {
      column_sums_accumulate<<<blocks_for(out), kThreads, 0, rt.stream>>>(b_.grad.data(), dy, n,
                                                                          out);
      check_launch("column_sums_accumulate");
    }
    // dW^T (in x out) += X (in x n) * dY^T (n x out)
    check(cublasSgemm(rt.blas, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &kOne, x_, in, dy, out, &kOne,
                      w_.grad.data(), in),
          "cublasSgemm (linear weight grad)");
    // dX (in x n) = W^T-stored (in x out) * dY (out x n)
    check(cublasSgemm(rt.blas, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &kOne, w_.value.data(), in, dy,
                      out, &kZero, dx_.data(), in),
          "cublasSgemm (linear input grad)");
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }

 private:
  LinearSpec spec_;
  WeightBias p_;
  DeviceParam w_, b_;
  Shape in_, out_;
  const float* x_ = nullptr;
  DeviceArray y_, dx_;
};

}  // namespace

ModulePtr make_linear(const LinearSpec& spec) { return std::make_unique<Linear>(spec); }

}  // namespace ft::nn::cuda

// Linear on cuBLAS (see layers.cuh): row-major (N, in) x (out, in)^T computed as column-major GEMMs
// without TF32; bias add and bias gradient as own kernels.
#include <memory>

#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"
#include "kernels/nn/cuda/linear_gemm.hpp"

namespace ft::nn::cuda {
namespace {

// C = op(A) op(B) + beta C on the library stream, as linear_gemm.hpp plans it.
void sgemm(const Gemm& g, const float* a, const float* b, float* c, const char* what) {
  check(cublasSgemm(runtime().blas, g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                    g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k, &kOne, a, g.lda, b, g.ldb,
                    &g.beta, c, g.ldc),
        what);
}

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
    sgemm(linear_forward_gemm(n, in, out), w_.value.data(), x, y_.data(),
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
    sgemm(linear_weight_grad_gemm(n, in, out), x_, dy, w_.grad.data(),
          "cublasSgemm (linear weight grad)");
    sgemm(linear_input_grad_gemm(n, in, out), w_.value.data(), dy, dx_.data(),
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

// Linear on cuBLAS (see layers.cuh): row-major (N, in) x (out, in)^T computed as column-major GEMMs
// without TF32; bias add and bias gradient as own kernels. Precision::bf16: x, the weights (every
// forward: they change with each optimizer step) and dy rounded to bf16 (layouts unchanged), GEMMs
// on tensor cores through cublasGemmEx (bf16 A and B, f32 C, f32 compute): y, dx and dL/dweight
// come out in f32, as on the CPU.
#include <memory>

#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/layers.cuh"
#include "kernels/nn/cuda/linear_gemm.hpp"

namespace ft::nn::cuda {
namespace {

// C = op(A) op(B) + beta C on the library stream, as linear_gemm.hpp plans it; A and B float, or
// bf16 (16-bit values) when `bf16`.
void gemm(const Gemm& g, const void* a, const void* b, float* c, bool bf16, const char* what) {
  const cublasOperation_t ta = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                          tb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (!bf16) {
    check(cublasSgemm(runtime().blas, ta, tb, g.m, g.n, g.k, &kOne, static_cast<const float*>(a),
                      g.lda, static_cast<const float*>(b), g.ldb, &g.beta, c, g.ldc),
          what);
    return;
  }
  check(cublasGemmEx(runtime().blas, ta, tb, g.m, g.n, g.k, &kOne, a, CUDA_R_16BF, g.lda, b,
                     CUDA_R_16BF, g.ldb, &g.beta, c, CUDA_R_32F, g.ldc, CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT),
        what);
}

class Linear final : public Module {
 public:
  Linear(const LinearSpec& spec, Precision precision)
      : spec_(spec), bf16_(precision == Precision::bf16) {
    if (spec.in_features <= 0 || spec.out_features <= 0)
      throw std::invalid_argument("linear (cuda): bad features");
    p_ = WeightBias({spec.out_features, spec.in_features}, spec.bias);
    w_.attach(p_.weight);
    if (spec.bias) b_.attach(p_.bias);
    if (bf16_) w_bf16_.resize(p_.weight.value.size());
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
    if (bf16_) x_bf16_.resize(static_cast<std::size_t>(in.numel()));
    return out_;
  }

  const float* forward(const float* x, bool) override {
    Runtime& rt = runtime();
    x_ = x;
    const int n = in_.n, in = spec_.in_features, out = spec_.out_features;
    const void *xs = x, *wts = w_.value.data();
    if (bf16_) {
      to_bf16(x_bf16_.data(), x, in_.numel());
      to_bf16(w_bf16_.data(), w_.value.data(), std::int64_t{in} * out);
      xs = x_bf16_.data();
      wts = w_bf16_.data();
    }
    gemm(linear_forward_gemm(n, in, out), wts, xs, y_.data(), bf16_, "GEMM (linear forward)");
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
    const void *xs = x_, *dys = dy, *wts = w_.value.data();
    if (bf16_) {
      auto* d = bf16_scratch(0, out_.numel());
      to_bf16(d, dy, out_.numel());
      xs = x_bf16_.data();
      dys = d;
      wts = w_bf16_.data();
    }
    gemm(linear_weight_grad_gemm(n, in, out), xs, dys, w_.grad.data(), bf16_,
         "GEMM (linear weight grad)");
    gemm(linear_input_grad_gemm(n, in, out), wts, dys, dx_.data(), bf16_,
         "GEMM (linear input grad)");
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>&) override {
    p_.collect(prefix, params);
  }

 private:
  LinearSpec spec_;
  bool bf16_;
  WeightBias p_;
  DeviceParam w_, b_;
  Shape in_, out_;
  const float* x_ = nullptr;
  DeviceArray y_, dx_;
  Bf16Array x_bf16_, w_bf16_;  // bf16: the forward's operands, kept for backward
};

}  // namespace

ModulePtr make_linear(const LinearSpec& spec, Precision precision) {
  return std::make_unique<Linear>(spec, precision);
}

}  // namespace ft::nn::cuda

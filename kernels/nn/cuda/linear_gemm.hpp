// The three column-major GEMMs (cuBLAS's convention, alpha = 1) that compute Linear on row-major
// tensors: x (N, in), W (out, in), y (N, out). A row-major (r, c) matrix is the column-major (c, r)
// one, so y^T = W^T' x^T etc. Plain C++: the CUDA layer calls cublasSgemm with these, and a test
// runs them through a reference GEMM against the CPU layer, so the arguments are checked here.
#pragma once

namespace ft::nn::cuda {

struct Gemm {
  bool trans_a = false, trans_b = false;
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldc = 0;
  float beta = 0.f;  // 1: accumulate into C
};

// y (C) = W (A) x x (B): Y^T (out x N) = W^T-stored (in x out, transposed) * X^T (in x N).
inline Gemm linear_forward_gemm(int batch, int in, int out) {
  return {true, false, out, batch, in, in, in, out, 0.f};
}
// dW (C) += x (A) x dy (B): dW^T (in x out) += X^T (in x N) * (dY^T (out x N), transposed).
inline Gemm linear_weight_grad_gemm(int batch, int in, int out) {
  return {false, true, in, out, batch, in, out, in, 1.f};
}
// dx (C) = W (A) x dy (B): dX^T (in x N) = W^T-stored (in x out) * dY^T (out x N).
inline Gemm linear_input_grad_gemm(int batch, int in, int out) {
  return {false, false, in, batch, out, in, out, in, 0.f};
}

}  // namespace ft::nn::cuda

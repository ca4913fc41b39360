// The CUDA side shared by device.cu and layers.cu (nvcc only): error checks that throw with the
// library's error string, and the process-wide runtime (device 0, one stream, a cuDNN and a
// cuBLAS handle bound to it, a grow-only workspace). Training runs on one serial stage, so one
// stream orders every layer's work; the host waits only in download().
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/nn/cuda/device.hpp"

namespace ft::nn::cuda {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}
inline void check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuDNN ") + what + ": " + cudnnGetErrorString(s));
}
inline void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error(std::string("cuBLAS ") + what + ": status " +
                             std::to_string(static_cast<int>(s)));
}

struct Runtime {
  cudaStream_t stream = nullptr;
  cudnnHandle_t dnn = nullptr;
  cublasHandle_t blas = nullptr;
  DeviceArray
      workspace;  // floats; shared by every cuDNN call (they run one at a time on the stream)
};

// Created on first use; throws std::runtime_error when no device can be used.
Runtime& runtime();
// At least `bytes` of workspace (grown on demand; only safe between calls on the one stream).
void* workspace(std::size_t bytes);

// Launch shape for the grid-stride kernels of kernels.cuh.
inline constexpr int kThreads = 256;
inline unsigned blocks_for(std::int64_t n) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, 4096));
}
// After every launch, as STYLE.md asks: launch errors surface at their kernel.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace ft::nn::cuda

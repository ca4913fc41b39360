// The CUDA side shared by the layer files and device.cu (nvcc only): error checks that throw with
// the library's error string, and the process-wide runtime (device 0, one stream, a cuDNN and a
// cuBLAS handle bound to it, a grow-only workspace, pinned staging for uploads). Training runs on
// one serial stage, so one stream orders every layer's work; device memory is allocated and freed
// in that stream's order (cudaMallocAsync): nothing synchronises the whole device, and the host
// waits for the stream only in download(), synchronize() and the gradient norm.
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

// One half of the pinned upload staging: host copies fill it while the other half's DMA runs.
struct StagingSlot {
  float* host = nullptr;       // pinned, kStagingFloats
  cudaEvent_t done = nullptr;  // recorded after the copy out of it
};
inline constexpr std::size_t kStagingFloats = std::size_t{1} << 20;  // 4 MiB per slot

// A bfloat16 array in device memory (each value's 16 bits), grown like DeviceArray.
class Bf16Array {
 public:
  void resize(std::size_t n) { a_.resize((n + 1) / 2); }
  std::uint16_t* data() const { return reinterpret_cast<std::uint16_t*>(a_.data()); }

 private:
  DeviceArray a_;
};

struct Runtime {
  cudaStream_t stream = nullptr;
  cudnnHandle_t dnn = nullptr;
  cublasHandle_t blas = nullptr;
  // Stream-ordered allocation (cudaMallocAsync / cudaFreeAsync, the pool keeps what is freed):
  // growing or dropping a buffer never waits for the device. False on devices without memory
  // pools, which fall back to a stream wait before cudaFree.
  bool async_alloc = false;
  DeviceArray
      workspace;  // floats; shared by every cuDNN call (they run one at a time on the stream)
  StagingSlot staging[2];
  int next_slot = 0;
  // bf16 layers' transient operands (an output before its widening, an incoming gradient):
  // used and done with inside one layer call, so every layer shares them (bf16_scratch()).
  Bf16Array bf16_scratch[2];
};

// Created on first use; throws std::runtime_error when no device can be used.
Runtime& runtime();
// At least `bytes` of workspace (grown on demand, in stream order: safe between calls on the one
// stream). Throws std::runtime_error when it cannot be allocated.
void* workspace(std::size_t bytes);

// Launch shape for the grid-stride kernels of kernels.cuh.
inline constexpr int kThreads = 256;
inline unsigned blocks_for(std::int64_t n) {
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, 4096));
}
// After every launch, as STYLE.md asks: launch errors surface at their kernel.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace ft::nn::cuda

// The device report (see devices.hpp): CUDA runtime queries, the library versions, and a probe
// kernel whose attributes say whether this build's device code (sm_90 + PTX) loads on each GPU.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <fstream>
#include <sstream>

#include "kernels/nn/cuda/devices.hpp"

namespace ft::nn::cuda {

namespace {

__global__ void probe_kernel() {}

// "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 ..." -> "580.65.06".
std::string driver_release() {
  std::ifstream in("/proc/driver/nvidia/version");
  std::string line;
  if (!std::getline(in, line)) return {};
  const auto at = line.find("Kernel Module");
  if (at == std::string::npos) return {};
  std::istringstream rest(line.substr(at + 13));
  std::string version;
  rest >> version;
  return version;
}

}  // namespace

DeviceReport query_devices() {
  DeviceReport r;
  r.built_with_cuda = true;
  cudaRuntimeGetVersion(&r.runtime_version);
  cudaDriverGetVersion(&r.driver_cuda_version);  // 0 when no driver is loaded
  r.driver_release = driver_release();
  r.cudnn_version = static_cast<int>(cudnnGetVersion());
  cublasGetProperty(MAJOR_VERSION, &r.cublas_major);
  cublasGetProperty(MINOR_VERSION, &r.cublas_minor);
  cublasGetProperty(PATCH_LEVEL, &r.cublas_patch);

  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    r.why_none = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
    cudaGetLastError();  // reset the runtime's last error: later calls should not see it
    return r;
  }
  if (n == 0) {
    r.why_none = "the CUDA driver sees no device";
    return r;
  }
  for (int i = 0; i < n; ++i) {
    DeviceInfo d;
    d.index = i;
    cudaDeviceProp p{};
    if (const cudaError_t pe = cudaGetDeviceProperties(&p, i); pe != cudaSuccess) {
      d.name = "?";
      d.kernels_error = std::string("cudaGetDeviceProperties: ") + cudaGetErrorString(pe);
      cudaGetLastError();
      r.devices.push_back(d);
      continue;
    }
    d.name = p.name;
    d.memory_bytes = p.totalGlobalMem;
    d.cc_major = p.major;
    d.cc_minor = p.minor;
    d.multiprocessors = p.multiProcessorCount;
    cudaFuncAttributes attr{};
    cudaError_t ke = cudaSetDevice(i);
    if (ke == cudaSuccess) ke = cudaFuncGetAttributes(&attr, probe_kernel);
    if (ke != cudaSuccess) {
      d.kernels_error = cudaGetErrorString(ke);
      cudaGetLastError();
    }
    r.devices.push_back(d);
  }
  cudaSetDevice(0);
  return r;
}

}  // namespace ft::nn::cuda

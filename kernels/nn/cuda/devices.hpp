// What `flowtrain devices` reports: each GPU this process can see and the versions of the CUDA
// driver and libraries it loaded, or why no GPU is usable. Plain host declarations: compiles
// without CUDA (devices_stub.cpp then says the build has none). Querying never throws.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace ft::nn::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  std::size_t memory_bytes = 0;
  int cc_major = 0, cc_minor = 0;  // compute capability
  int multiprocessors = 0;
  // Empty when this build's kernels load on the device; else the CUDA error that says why not
  // (e.g. no kernel image for its compute capability).
  std::string kernels_error;
};

struct DeviceReport {
  bool built_with_cuda = false;
  std::vector<DeviceInfo> devices;
  std::string why_none;  // set when devices is empty
  int driver_cuda_version =
      0;  // newest CUDA the driver supports, 1000 * major + 10 * minor; 0: none
  std::string
      driver_release;       // kernel module version from /proc/driver/nvidia/version, if readable
  int runtime_version = 0;  // CUDA runtime, same encoding
  int cudnn_version = 0;    // cudnnGetVersion(): 10000 * major + 100 * minor + patch (cuDNN 9)
  int cublas_major = 0, cublas_minor = 0, cublas_patch = 0;
};

DeviceReport query_devices();

}  // namespace ft::nn::cuda

// Device selection (see device.hpp).
#include "cli/device.hpp"

#include <fmt/format.h>

#include "pipeline/error.hpp"

#ifdef FT_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace ft {

int cuda_device_count() {
#ifdef FT_HAVE_CUDA
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
#else
  return 0;
#endif
}

std::string resolve_device(const std::string& requested, const std::string& config_file) {
  if (requested == "cpu") return "cpu";
  const int n = cuda_device_count();
  if (requested == "cuda") {
    if (n == 0)
      throw ConfigError(fmt::format(
          "{}: [run] device = \"cuda\" but {}; use device = \"auto\" or \"cpu\"", config_file,
#ifdef FT_HAVE_CUDA
          "no CUDA device is visible"
#else
          "this flowtrain was built without CUDA (meson option gpu)"
#endif
          ));
    return "cuda";
  }
  // auto: the CPU path. The CUDA training path (kernels/nn/cuda) is compiled but has not yet run
  // on a GPU (docs/DESIGN.md, "Device"); until tools/gpu_check.sh passes on one, it is opt-in.
  return "cpu";
}

}  // namespace ft

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
  // auto: the CPU path until the CUDA training path exists for every stage of the run.
  return "cpu";
}

}  // namespace ft

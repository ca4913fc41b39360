// Device selection and `flowtrain devices` (see device.hpp).
#include "cli/device.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.hpp"
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

namespace {

// 1000 * major + 10 * minor (CUDA's encoding) -> "13.0".
std::string cuda_version(int v) { return fmt::format("{}.{}", v / 1000, v % 1000 / 10); }

}  // namespace

std::string devices_text(const nn::cuda::DeviceReport& r) {
  std::string out;
  if (r.built_with_cuda) {
    const std::string driver =
        r.driver_cuda_version ? fmt::format("driver {}(CUDA {})",
                                            r.driver_release.empty() ? "" : r.driver_release + " ",
                                            cuda_version(r.driver_cuda_version))
                              : std::string("no CUDA driver");
    out += fmt::format("CUDA runtime {}, {}, cuDNN {}.{}.{}, cuBLAS {}.{}.{}\n",
                       cuda_version(r.runtime_version), driver, r.cudnn_version / 10000,
                       r.cudnn_version % 10000 / 100, r.cudnn_version % 100, r.cublas_major,
                       r.cublas_minor, r.cublas_patch);
  }
  if (r.devices.empty()) return out + fmt::format("no usable GPU: {}\n", r.why_none);
  for (const auto& d : r.devices) {
    out += fmt::format("GPU {}: {}, {:.1f} GiB, compute capability {}.{}, {} SMs", d.index, d.name,
                       static_cast<double>(d.memory_bytes) / (1u << 30), d.cc_major, d.cc_minor,
                       d.multiprocessors);
    out += d.kernels_error.empty()
               ? "\n"
               : fmt::format("; flowtrain's kernels cannot run on it: {}\n", d.kernels_error);
  }
  return out;
}

void add_devices(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "devices",
      "list the GPUs and the CUDA, cuDNN and cuBLAS versions, or say why none is usable");
  cmd->callback([] { std::cout << devices_text(nn::cuda::query_devices()); });
}

}  // namespace ft

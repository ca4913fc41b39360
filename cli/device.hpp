// Device selection: "auto" picks the CPU (CUDA stays opt-in until it has run on a GPU, see
// resolve_device); "cuda" without a usable GPU is a clear error. `flowtrain devices` lists GPUs.
#pragma once

#include <string>

#include "kernels/nn/cuda/devices.hpp"

namespace ft {

int cuda_device_count();  // 0 when built without CUDA or no device is usable
std::string resolve_device(const std::string& requested, const std::string& config_file);

// The text `flowtrain devices` prints: a line of versions (in a build with CUDA), then a line per
// GPU, or one line "no usable GPU: <why>".
std::string devices_text(const nn::cuda::DeviceReport& report);

}  // namespace ft

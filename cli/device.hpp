// Device selection: "auto" picks CUDA when flowtrain was built with CUDA and a GPU is present,
// else the CPU; "cuda" without a usable GPU is a clear error.
#pragma once

#include <string>

namespace ft {

int cuda_device_count();  // 0 when built without CUDA or no device is usable
std::string resolve_device(const std::string& requested, const std::string& config_file);

}  // namespace ft

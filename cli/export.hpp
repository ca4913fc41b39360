// `flowtrain export RUN_DIR --format safetensors`: a run's weights for other frameworks. The
// tensors keep the checkpoint's names, which are the PyTorch modules' state_dict names
// (torchvision's for resnet18/34/50 and resnext50_32x4d), in PyTorch's layouts (OIHW
// convolutions, (out, in) linear weights); batch-norm buffers included, num_batches_tracked as
// int64 as PyTorch keeps it.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

namespace ft {

// Writes `out` (default <run_dir>/model.safetensors) from `checkpoint` (default
// <run_dir>/checkpoints/last.ckpt); returns the number of tensors written. Errors name the file.
std::size_t export_safetensors(const std::filesystem::path& run_dir,
                               const std::filesystem::path& checkpoint,
                               const std::filesystem::path& out);

void add_export(CLI::App& app);

}  // namespace ft

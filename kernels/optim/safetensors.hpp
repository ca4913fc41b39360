// The safetensors file format (huggingface/safetensors), written and read directly: an 8-byte
// little-endian header length N, N bytes of JSON ({"name": {"dtype", "shape", "data_offsets":
// [begin, end]}, ..., "__metadata__": {string: string}}, padded with spaces to a multiple of 8),
// then the raw little-endian tensor bytes. flowtrain writes F32 tensors and I64 ones where PyTorch
// keeps integers (batch norm's num_batches_tracked), and reads F32, F64, F16, BF16, I64 and I32.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "kernels/optim/checkpoint.hpp"

namespace ft::optim {

struct SafetensorsEntry {
  std::string name;
  std::vector<std::int64_t> shape;
  const std::vector<float>* data = nullptr;  // product(shape) values
  bool as_int64 = false;                     // stored as I64 (values rounded), else F32
};

// Writes the entries in the given order, atomically (temp file beside `path`, fsync, rename,
// fsync of the folder). Throws std::runtime_error naming the path; the target is then untouched.
void save_safetensors(const std::vector<SafetensorsEntry>& entries,
                      const std::map<std::string, std::string>& metadata,
                      const std::filesystem::path& path);

struct SafetensorsFile {
  std::map<std::string, TensorRecord> tensors;  // every dtype converted to float
  std::map<std::string, std::string> dtypes;    // as stored: "F32", "I64", ...
  std::map<std::string, std::string> metadata;
};

// Reads and checks a whole file: header length within the file, JSON well formed, every entry's
// dtype known, shape non-negative, data_offsets inside the data and matching dtype x shape,
// entries not overlapping. Throws std::runtime_error naming the path and the problem.
SafetensorsFile load_safetensors(const std::filesystem::path& path);

// A checkpoint holding only the file's tensors, as "model.<name>" (what init_from reads).
Checkpoint safetensors_as_checkpoint(const std::filesystem::path& path);

}  // namespace ft::optim

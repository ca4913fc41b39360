// Checkpoint container and file format: named float tensors (with shapes), named int64 scalars
// and named strings, behind a 32-byte header (magic, version, payload size, zlib CRC32 of the
// payload). Writes are atomic (temp file in the same directory, fsync, rename, fsync the
// directory); every read failure throws std::runtime_error naming the path and the problem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "kernels/nn/parameter.hpp"

namespace ft::optim {

struct TensorRecord {
  std::vector<std::int64_t> shape;
  std::vector<float> data;  // row-major, size == product(shape)
};

struct Checkpoint {
  std::map<std::string, TensorRecord> tensors;
  std::map<std::string, std::int64_t> ints;
  std::map<std::string, std::string> strings;
  std::string source;  // the path it was loaded from ("" when built in memory); used in errors

  // Lookups that throw std::runtime_error naming `source` and the missing key.
  const TensorRecord& tensor(const std::string& name) const;
  std::int64_t int_value(const std::string& name) const;
  const std::string& string_value(const std::string& name) const;
};

// File layout, little-endian:
//   header  : magic "FTCKPT\r\n" (8) | version u32 | reserved u32 | payload_size u64 |
//             payload_crc32 u32 | header_crc32 u32 (over the preceding 28 bytes)
//   payload : u64 n_tensors, then per tensor: u32 name_len, name, u32 ndim, i64 dims[ndim], f32
//   data
//             u64 n_ints,    then per int:    u32 name_len, name, i64 value
//             u64 n_strings, then per string: u32 name_len, name, u64 len, bytes
constexpr std::uint32_t kCheckpointVersion = 1;
constexpr std::size_t kCheckpointHeaderSize = 32;

// Throws std::runtime_error naming the path on any failure; the target is then untouched and the
// temp file removed. The temp file is `<path>.tmp.<pid>`.
void save_checkpoint(const Checkpoint& ckpt, const std::filesystem::path& path);
// Saves to `path`, then makes each of `copies` a complete copy of it (publish_checkpoint_copy),
// in that order: a kill at any point leaves `path` complete whenever any copy exists.
void save_checkpoint(const Checkpoint& ckpt, const std::filesystem::path& path,
                     const std::vector<std::filesystem::path>& copies);
// Makes `copy` hold the bytes of the complete checkpoint file `path`, atomically: a hard link
// made under `<copy>.tmp.<pid>` and renamed over `copy` (a copied and fsynced file where the
// filesystem has no hard links), then the directory fsynced. Throws std::runtime_error naming
// both paths; `copy` is then untouched.
void publish_checkpoint_copy(const std::filesystem::path& path, const std::filesystem::path& copy);
Checkpoint load_checkpoint(const std::filesystem::path& path);

// The model part: tensors "model.<name>" for every parameter value and buffer.
void pack_model(Checkpoint& ckpt, const std::vector<nn::Parameter*>& params,
                const std::vector<nn::Buffer*>& buffers);
// Copies the checkpoint's model tensors into the model. Strict, like load_state_dict: a name the
// model has and the checkpoint lacks, a shape that differs (both shapes named) or a model tensor
// in the checkpoint the model does not have throws std::runtime_error listing the problems;
// nothing is modified then.
void unpack_model(const Checkpoint& ckpt, const std::vector<nn::Parameter*>& params,
                  const std::vector<nn::Buffer*>& buffers);
// The checks of unpack_model alone (throws the same message; modifies nothing). They include
// check_finite over the model's tensors.
void check_model(const Checkpoint& ckpt, const std::vector<nn::Parameter*>& params,
                 const std::vector<nn::Buffer*>& buffers);
// Throws std::runtime_error naming the first tensor whose name starts with `prefix` ("" = all)
// that holds a NaN or an infinity, with the element's index and value: such a checkpoint comes
// from a diverged run, and its checksum being valid does not make it usable.
void check_finite(const Checkpoint& ckpt, const std::string& prefix = "");
// "tensor 'NAME' holds N non-finite values (the first, at index I, is nan)", or "" when all are
// finite: the check alone, for callers that word the error themselves.
std::string non_finite_text(const Checkpoint& ckpt, const std::string& prefix = "");

// "[64, 3, 7, 7]"
std::string shape_string(const std::vector<std::int64_t>& shape);

}  // namespace ft::optim

// Reader for gzip-compressed IDX files (the MNIST / Fashion-MNIST format): a big-endian magic
// 0x000008TT (TT = element type, only 0x08 = u8 is accepted) with the dimension count in its low
// byte, then one big-endian u32 per dimension, then the elements.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ft::io {

struct IdxArray {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> data;  // row-major, product(dims) bytes
};

// Reads any u8 IDX file (gzip or plain: zlib reads both). Throws std::runtime_error naming the
// path on a bad magic number, an unsupported type, a truncated body or trailing bytes.
IdxArray read_idx(const std::string& path);
// An images file: 3 dimensions (n, rows, cols).
IdxArray read_idx_images(const std::string& path);
// A labels file: 1 dimension (n).
IdxArray read_idx_labels(const std::string& path);

}  // namespace ft::io

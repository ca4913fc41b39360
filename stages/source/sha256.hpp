// SHA-256 (FIPS 180-4), incremental: the shard checksums of `flowtrain pack` and `verify`, written
// here because no SHA-256 library is among flowtrain's Debian dependencies (tools/install_deps.sh).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ft {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  // The digest as 64 lowercase hex digits; the object is spent afterwards.
  std::string hex_digest();

 private:
  void block(const std::uint8_t* p);
  std::array<std::uint32_t, 8> h_;
  std::array<std::uint8_t, 64> buf_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_ = 0;
};

// The SHA-256 of a whole regular file, as hex; throws std::runtime_error naming the path.
std::string sha256_file(const std::string& path);

}  // namespace ft

// `flowtrain pack`: a Dataset written as WebDataset shards. Each sample becomes KEY.jpg (its bytes
// as they are: no re-encoding) and, when labelled, KEY.cls (the class index as decimal text), KEY
// being the sample's position in the dataset as nine digits; shards close once the next sample
// would take them past shard_bytes. Beside each shard its DALI index; manifest.toml last. All of
// it is written into OUT.tmp-PID and renamed to OUT at the end, so OUT exists only complete.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include "stages/source/dataset.hpp"

namespace ft {

inline constexpr std::uint64_t kDefaultShardBytes = 256'000'000;  // 256MB

struct PackOptions {
  std::uint64_t shard_bytes = kDefaultShardBytes;
  // Called after each sample with (samples done, total, bytes written so far).
  std::function<void(std::size_t, std::size_t, std::uint64_t)> progress;
};

struct PackSummary {
  std::size_t samples = 0, shards = 0;
  std::uint64_t tar_bytes = 0;     // all shards
  std::uint64_t sample_bytes = 0;  // the JPEG bytes alone (the size overhead is the difference)
  double seconds = 0;
};

// Refuses (ft::Error, exit 2) an out that already exists; a sample that cannot be read is an
// error naming it, and nothing is left at out.
PackSummary pack_shards(const Dataset& data, const std::filesystem::path& out,
                        const PackOptions& opt = {});

// "256MB", "1.5GB", "4096", "64KiB" -> bytes (decimal units, binary with "i"); ft::Error (exit 2)
// naming the text otherwise, or for a size below 1 KB or above 1 TB.
std::uint64_t parse_byte_size(const std::string& text);

}  // namespace ft

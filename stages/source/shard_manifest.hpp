// The files beside a folder of WebDataset shards: `manifest.toml` (flowtrain's: what each shard
// holds and its checksums) and one DALI index per shard (`shard-NNNNNN.idx`, the format of DALI's
// tools/wds2idx.py, version v1.2: a line "v1.2 N", then per sample its components as
// "EXT OFFSET SIZE NAME" separated by spaces, OFFSET being where the member's data starts).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "stages/source/tar.hpp"

namespace ft {

inline constexpr const char* kManifestName = "manifest.toml";

// One member of a sample (a DALI index "component").
struct WdsComponent {
  std::string ext;  // "jpg", "cls", ...
  std::uint64_t offset = 0, size = 0;
  std::string name;  // the member name (empty in index versions before v1.2)
};
struct WdsSample {
  std::string key;  // the member name up to the first dot of its last path component
  std::vector<WdsComponent> components;
  const WdsComponent* find(const std::string& ext) const;
};

// Consecutive members sharing a key form a sample, as WebDataset and DALI group them; members
// whose key is empty (hidden files such as ".DS_Store") are skipped as DALI skips them.
std::vector<WdsSample> group_members(const std::vector<tar::Member>& members);

std::string format_wds_index(const std::vector<WdsSample>& samples);
// Parses an index; std::runtime_error "<path>:<line>: <what>" when it is malformed (version,
// count, numbers, an offset not on a 512-byte block).
std::vector<WdsSample> parse_wds_index(const std::string& text, const std::string& path);

struct ShardInfo {
  std::string tar, idx;  // file names inside the folder
  std::uint64_t bytes = 0;
  std::string sha256;
  std::vector<std::string> ids;     // the source dataset's sample ids
  std::vector<int> labels;          // -1 when unlabeled
  std::vector<std::uint64_t> xxh3;  // XXH3-64 of each KEY.jpg
  std::size_t samples() const { return ids.size(); }
};
struct Manifest {
  int num_classes = 0;
  std::vector<std::string> class_names;
  std::string source;  // the dataset it was packed from, for people
  std::vector<ShardInfo> shards;
};

std::string format_manifest(const Manifest& m);
// Reads dir/manifest.toml; ft::Error (exit 2) naming the file and what is wrong.
Manifest read_manifest(const std::filesystem::path& file);

// "0123456789abcdef" for an XXH3-64 value, and back (false when malformed).
std::string hex64(std::uint64_t v);
bool parse_hex64(const std::string& s, std::uint64_t& out);

}  // namespace ft

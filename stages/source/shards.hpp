// Datasets stored as WebDataset shards (`[data] train = { format = "shards", path = DIR }`): the
// samples of every .tar in DIR, each one a byte range inside its shard. With DIR/manifest.toml
// (written by `flowtrain pack`) the shards, ids, labels and per-sample XXH3 checksums come from
// it and the offsets from each shard's DALI index; without it every *.tar of DIR (by name) is
// scanned and KEY.cls gives the label, so a tar made by the plain `tar` command is read too.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "stages/source/dataset.hpp"

namespace ft {

// The shard files of a dataset, opened on first use and kept open (pread is safe from several
// threads on one descriptor); after the first open a lookup takes no lock.
class ShardFiles {
 public:
  explicit ShardFiles(std::vector<std::filesystem::path> paths);
  ~ShardFiles();
  ShardFiles(const ShardFiles&) = delete;
  ShardFiles& operator=(const ShardFiles&) = delete;
  const std::filesystem::path& path(int shard) const {
    return paths_[static_cast<std::size_t>(shard)];
  }
  std::size_t size() const { return paths_.size(); }
  // The open descriptor of a shard; std::runtime_error naming the file when it cannot be opened.
  int fd(int shard) const;

 private:
  std::vector<std::filesystem::path> paths_;
  mutable std::mutex mu_;  // serialises opening
  std::unique_ptr<std::atomic<int>[]> fds_;
};

// Loads the shards of dir. num_classes > 0 bounds the labels (and overrides the manifest's).
// Errors are ft::Error (exit 2) naming the shard, index or manifest and what is wrong: a shard
// whose size differs from the manifest's (truncated), an index entry outside its shard, ...
Dataset read_shard_dataset(const std::filesystem::path& dir, int num_classes);

// Appends the sample's bytes to out: the whole file, or its byte range in its shard checked
// against its XXH3 checksum. On failure out is unchanged and std::runtime_error says why.
void append_sample_bytes(const Dataset& data, const Sample& s, std::vector<std::uint8_t>& out);

// Where a sample's bytes are, for messages: "path", or "shard.tar:MEMBER".
std::string sample_location(const Sample& s);

// XXH3-64 of a byte range.
std::uint64_t xxh3_of(const std::uint8_t* data, std::size_t size);

}  // namespace ft

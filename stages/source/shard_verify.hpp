// `flowtrain verify DIR`: every check a shard folder allows, each problem reported by shard and
// member: the shard's size and SHA-256 against the manifest, its tar structure, its DALI index
// against the tar's own headers, and every sample's XXH3 and label against the manifest.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace ft {

struct VerifyReport {
  std::size_t shards = 0, samples = 0;
  std::vector<std::string> problems;  // "<file>: <member>: <what>", one per problem
  bool ok() const { return problems.empty(); }
};

// Throws ft::Error (exit 2) only when dir is not a folder; everything else is a problem.
// progress(shards done, total) after each shard, when given.
VerifyReport verify_shards(const std::filesystem::path& dir,
                           const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace ft

// Inputs for the shard tests, made on the fly: a files dataset of n samples with distinct random
// bytes (sizes vary across tar blocks), packed into a folder with pack_shards.
#pragma once

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "stages/source/shard_pack.hpp"
#include "stages/source/shards.hpp"
#include "temp_dir.hpp"

namespace ft::testing {

inline Dataset random_files(const TempDir& d, int n, int num_classes = 3) {
  std::mt19937 rng(static_cast<unsigned>(n) * 7919u);
  Dataset ds;
  ds.num_classes = num_classes;
  for (int i = 0; i < num_classes; ++i) ds.class_names.push_back(std::to_string(i));
  ds.origin = d.path.string();
  for (int i = 0; i < n; ++i) {
    std::string bytes(1 + rng() % 1500, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string name = "src/" + std::to_string(i) + ".jpg";
    ds.samples.push_back(Sample{"id" + std::to_string(i), d.write(name, bytes), i % num_classes});
  }
  return ds;
}

inline std::string file_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string bytes_of(const Dataset& d, const Sample& s) {
  std::vector<std::uint8_t> out;
  append_sample_bytes(d, s, out);
  return std::string(out.begin(), out.end());
}

inline int shell(const std::string& cmd) {
  const int r = std::system(cmd.c_str());
  return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

// Overwrites bytes at offset of a file in place.
inline void patch(const std::filesystem::path& p, std::uint64_t offset, const std::string& bytes) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace ft::testing

// Shard verification: a shard's checks go on after its first problem (so that one run names every
// bad sample), up to kMaxPerShard problems per shard.
#include "stages/source/shard_verify.hpp"

#include <algorithm>
#include <set>

#include "kernels/io/regular_file.hpp"
#include "pipeline/error.hpp"
#include "stages/source/sha256.hpp"
#include "stages/source/shard_manifest.hpp"
#include "stages/source/shards.hpp"

namespace fs = std::filesystem;

namespace ft {

namespace {

constexpr std::size_t kMaxPerShard = 20;

struct ShardCheck {
  std::string tar_path;
  std::vector<std::string> problems;
  std::size_t dropped = 0;
  void add(const std::string& what) {
    if (problems.size() < kMaxPerShard)
      problems.push_back(tar_path + ": " + what);
    else
      ++dropped;
  }
};

bool same(const WdsSample& a, const WdsSample& b) {
  if (a.components.size() != b.components.size()) return false;
  for (std::size_t i = 0; i < a.components.size(); ++i) {
    const WdsComponent &x = a.components[i], &y = b.components[i];
    if (x.ext != y.ext || x.offset != y.offset || x.size != y.size ||
        (!x.name.empty() && x.name != y.name))
      return false;
  }
  return true;
}

void check_index(ShardCheck& c, const fs::path& idx, const std::vector<WdsSample>& from_tar) {
  std::vector<WdsSample> listed;
  try {
    listed = parse_wds_index(io::read_regular_file(idx.string()), idx.string());
  } catch (const std::runtime_error& e) {
    c.add(std::string("index: ") + e.what());
    return;
  }
  if (listed.size() != from_tar.size())
    c.add("index " + idx.filename().string() + " lists " + std::to_string(listed.size()) +
          " samples, the tar holds " + std::to_string(from_tar.size()));
  for (std::size_t i = 0; i < std::min(listed.size(), from_tar.size()); ++i)
    if (!same(listed[i], from_tar[i]))
      c.add(from_tar[i].key + ": index " + idx.filename().string() + " line " +
            std::to_string(i + 2) + " disagrees with the tar (offset, size or name)");
}

// The tar's samples against the manifest's entry: count, XXH3 of each KEY.jpg, each KEY.cls.
void check_samples(ShardCheck& c, int fd, const std::vector<WdsSample>& samples,
                   const ShardInfo* info) {
  if (info && samples.size() != info->samples())
    c.add("holds " + std::to_string(samples.size()) + " samples, the manifest says " +
          std::to_string(info->samples()));
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const WdsSample& s = samples[i];
    const WdsComponent* jpg = s.find("jpg");
    if (!jpg) {
      c.add(s.key + ": no .jpg member");
      continue;
    }
    if (!info || i >= info->samples()) continue;
    bytes.resize(jpg->size);
    tar::pread_exact(fd, bytes.data(), jpg->size, jpg->offset, c.tar_path);
    if (xxh3_of(bytes.data(), bytes.size()) != info->xxh3[i])
      c.add(jpg->name + " (id '" + info->ids[i] +
            "'): checksum mismatch (XXH3 differs from the "
            "manifest's: the sample is corrupt)");
    const WdsComponent* cls = s.find("cls");
    std::string text;
    if (cls && cls->size <= 32) {
      text.resize(cls->size);
      tar::pread_exact(fd, text.data(), cls->size, cls->offset, c.tar_path);
    }
    if ((cls != nullptr) != (info->labels[i] >= 0) ||
        (cls && text != std::to_string(info->labels[i])))
      c.add(s.key + ": label '" + text + "' disagrees with the manifest's " +
            std::to_string(info->labels[i]));
  }
}

std::vector<std::string> check_shard(const fs::path& dir, const std::string& tar_name,
                                     const std::string& idx_name, const ShardInfo* info,
                                     std::size_t& samples) {
  ShardCheck c{(dir / tar_name).string(), {}, 0};
  try {
    std::size_t size = 0;
    const int fd = io::open_regular_file(c.tar_path, &size);
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    if (info && size != info->bytes)
      c.add(std::to_string(size) + " bytes, the manifest says " + std::to_string(info->bytes) +
            " (truncated or replaced)");
    if (info && sha256_file(c.tar_path) != info->sha256)
      c.add("SHA-256 differs from the manifest's: the shard is corrupt");
    const std::vector<WdsSample> from_tar = group_members(tar::list_members(fd, size, c.tar_path));
    samples += from_tar.size();
    if (!idx_name.empty()) check_index(c, dir / idx_name, from_tar);
    check_samples(c, fd, from_tar, info);
  } catch (const std::runtime_error& e) {
    c.add(e.what());
  }
  if (c.dropped > 0)
    c.problems.push_back(c.tar_path + ": and " + std::to_string(c.dropped) + " more");
  return c.problems;
}

}  // namespace

VerifyReport verify_shards(const fs::path& dir,
                           const std::function<void(std::size_t, std::size_t)>& progress) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("verify: '" + dir.string() + "' is not a folder (or does not exist)", 2);
  VerifyReport r;
  const auto add_all = [&](const std::vector<std::string>& p) {
    r.problems.insert(r.problems.end(), p.begin(), p.end());
  };
  std::set<std::string> tars;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".tar") tars.insert(e.path().filename().string());
  Manifest m;
  const bool has_manifest = fs::exists(dir / kManifestName);
  if (has_manifest) {
    try {
      m = read_manifest(dir / kManifestName);
    } catch (const Error& e) {
      r.problems.push_back(e.what());
      return r;
    }
    for (std::size_t k = 0; k < m.shards.size(); ++k) {
      const ShardInfo& s = m.shards[k];
      if (!tars.erase(s.tar))
        r.problems.push_back((dir / s.tar).string() + ": missing");
      else
        add_all(check_shard(dir, s.tar, s.idx, &s, r.samples));
      if (progress) progress(k + 1, m.shards.size());
    }
    for (const auto& t : tars)
      r.problems.push_back((dir / t).string() + ": not listed in " + kManifestName);
    r.shards = m.shards.size();
    return r;
  }
  std::size_t k = 0;
  for (const auto& t : tars) {
    const std::string idx = fs::path(t).replace_extension(".idx").string();
    add_all(check_shard(dir, t, fs::exists(dir / idx) ? idx : "", nullptr, r.samples));
    if (progress) progress(++k, tars.size());
  }
  if (tars.empty()) r.problems.push_back(dir.string() + ": no manifest.toml and no .tar file");
  r.shards = tars.size();
  return r;
}

}  // namespace ft

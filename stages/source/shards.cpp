// Loading a shard folder into a Dataset (manifest + DALI index, or a scan of plain tars) and
// reading one sample's bytes by its range. Load checks what is cheap (sizes, ranges, counts);
// the content is checked per sample on read (XXH3) and in full by `flowtrain verify`.
#include "stages/source/shards.hpp"

#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <charconv>

#include "kernels/io/jpeg.hpp"
#include "kernels/io/regular_file.hpp"
#include "pipeline/error.hpp"
#include "stages/source/shard_manifest.hpp"
#include "stages/source/tar.hpp"

namespace fs = std::filesystem;

namespace ft {

namespace {

[[noreturn]] void shard_error(const std::string& msg) { throw Error(msg, 2); }

// A .cls member holds the class index as decimal text (WebDataset's convention).
constexpr std::uint64_t kMaxClsBytes = 32;

const WdsComponent& jpeg_of(const WdsSample& s, const std::string& where) {
  for (const char* ext : {"jpg", "jpeg", "JPG", "JPEG"})
    if (const WdsComponent* c = s.find(ext)) return *c;
  shard_error(where + ": sample '" + s.key + "' has no .jpg member");
}

int read_cls(int fd, const WdsComponent& c, const std::string& where) {
  if (c.size == 0 || c.size > kMaxClsBytes)
    shard_error(where + ": " + c.name + " is " + std::to_string(c.size) +
                " bytes, not a class index");
  std::string text(c.size, '\0');
  try {
    tar::pread_exact(fd, text.data(), c.size, c.offset, where);
  } catch (const std::runtime_error& e) {
    shard_error(e.what());
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r'))
    text.pop_back();
  int v = -1;
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < 0)
    shard_error(where + ": " + c.name + " holds '" + text + "', not a class index");
  return v;
}

std::uint64_t file_size_of(int fd) { return static_cast<std::uint64_t>(::lseek(fd, 0, SEEK_END)); }

// The samples of one shard from its index (or a scan when it has none).
std::vector<WdsSample> shard_samples(const ShardFiles& files, int k, const fs::path& idx) {
  const std::string tar_path = files.path(k).string();
  try {
    const int fd = files.fd(k);
    const std::uint64_t bytes = file_size_of(fd);
    if (idx.empty() || !fs::exists(idx))
      return group_members(tar::list_members(fd, bytes, tar_path));
    std::vector<WdsSample> s = parse_wds_index(io::read_regular_file(idx.string()), idx.string());
    for (const WdsSample& x : s)
      for (const WdsComponent& c : x.components)
        if (c.offset < tar::kBlock || c.offset + c.size > bytes || c.size > bytes)
          shard_error(idx.string() + ": " + c.name + " at [" + std::to_string(c.offset) + ", +" +
                      std::to_string(c.size) + ") lies outside " + tar_path + " (" +
                      std::to_string(bytes) + " bytes)");
    return s;
  } catch (const std::runtime_error& e) {
    shard_error(e.what());
  }
}

Dataset from_manifest(const fs::path& dir, int num_classes) {
  const Manifest m = read_manifest(dir / kManifestName);
  std::vector<fs::path> paths;
  for (const ShardInfo& s : m.shards) paths.push_back(dir / s.tar);
  Dataset ds;
  ds.shards = std::make_shared<ShardFiles>(paths);
  ds.num_classes = num_classes > 0 ? num_classes : m.num_classes;
  ds.class_names = m.class_names;
  for (std::size_t k = 0; k < m.shards.size(); ++k) {
    const ShardInfo& info = m.shards[k];
    const std::string tar_path = paths[k].string();
    std::uint64_t bytes = 0;
    try {
      bytes = file_size_of(ds.shards->fd(static_cast<int>(k)));
    } catch (const std::runtime_error& e) {
      shard_error(e.what());
    }
    if (bytes != info.bytes)
      shard_error(tar_path + ": " + std::to_string(bytes) + " bytes, but " + kManifestName +
                  " says " + std::to_string(info.bytes) + " (truncated or replaced)");
    const fs::path idx = info.idx.empty() ? fs::path() : dir / info.idx;
    const std::vector<WdsSample> samples = shard_samples(*ds.shards, static_cast<int>(k), idx);
    if (samples.size() != info.samples())
      shard_error((idx.empty() ? tar_path : idx.string()) + ": " + std::to_string(samples.size()) +
                  " samples, but " + kManifestName + " says " + std::to_string(info.samples()));
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const WdsComponent& c = jpeg_of(samples[i], tar_path);
      if (num_classes > 0 && info.labels[i] >= num_classes)
        shard_error(tar_path + ": label " + std::to_string(info.labels[i]) + " of '" + info.ids[i] +
                    "' is out of range for num_classes = " + std::to_string(num_classes));
      ds.samples.push_back(Sample{info.ids[i], paths[k], info.labels[i], static_cast<int>(k),
                                  c.offset, c.size, c.name, true, info.xxh3[i]});
    }
  }
  return ds;
}

Dataset from_plain_tars(const fs::path& dir, int num_classes) {
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".tar") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) shard_error("shard folder '" + dir.string() + "' holds no .tar file");
  Dataset ds;
  ds.shards = std::make_shared<ShardFiles>(paths);
  int labelled = 0, max_label = -1;
  for (std::size_t k = 0; k < paths.size(); ++k) {
    const std::string where = paths[k].string();
    for (const WdsSample& s : shard_samples(*ds.shards, static_cast<int>(k), {})) {
      const WdsComponent& c = jpeg_of(s, where);
      const WdsComponent* cls = s.find("cls");
      const int label = cls ? read_cls(ds.shards->fd(static_cast<int>(k)), *cls, where) : -1;
      if (num_classes > 0 && label >= num_classes)
        shard_error(where + ": " + cls->name + " holds " + std::to_string(label) +
                    ", out of range for num_classes = " + std::to_string(num_classes));
      labelled += cls != nullptr;
      max_label = std::max(max_label, label);
      ds.samples.push_back(
          Sample{s.key, paths[k], label, static_cast<int>(k), c.offset, c.size, c.name, false, 0});
    }
  }
  if (ds.samples.empty()) shard_error("shard folder '" + dir.string() + "' holds no samples");
  if (labelled != 0 && labelled != static_cast<int>(ds.samples.size()))
    shard_error("shard folder '" + dir.string() + "': " + std::to_string(labelled) + " of " +
                std::to_string(ds.samples.size()) +
                " samples have a .cls member; all or none must");
  ds.num_classes = num_classes > 0 ? num_classes : max_label + 1;
  for (int i = 0; i < ds.num_classes; ++i) ds.class_names.push_back(std::to_string(i));
  return ds;
}

}  // namespace

ShardFiles::ShardFiles(std::vector<fs::path> paths)
    : paths_(std::move(paths)), fds_(new std::atomic<int>[paths_.size()]) {
  for (std::size_t i = 0; i < paths_.size(); ++i) fds_[i].store(-1);
}

ShardFiles::~ShardFiles() {
  for (std::size_t i = 0; i < paths_.size(); ++i)
    if (const int fd = fds_[i].load(); fd >= 0) ::close(fd);
}

int ShardFiles::fd(int shard) const {
  std::atomic<int>& slot = fds_[static_cast<std::size_t>(shard)];
  if (const int fd = slot.load(std::memory_order_acquire); fd >= 0) return fd;
  std::lock_guard lock(mu_);
  if (const int fd = slot.load(std::memory_order_acquire); fd >= 0) return fd;
  const int fd = io::open_regular_file(paths_[static_cast<std::size_t>(shard)].string());
  slot.store(fd, std::memory_order_release);
  return fd;
}

Dataset read_shard_dataset(const fs::path& dir, int num_classes) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    shard_error("shard folder '" + dir.string() + "' is not a folder (or does not exist)");
  Dataset ds = fs::exists(dir / kManifestName) ? from_manifest(dir, num_classes)
                                               : from_plain_tars(dir, num_classes);
  ds.origin = dir.string();
  return ds;
}

std::uint64_t xxh3_of(const std::uint8_t* data, std::size_t size) {
  return XXH3_64bits(data, size);
}

void append_sample_bytes(const Dataset& data, const Sample& s, std::vector<std::uint8_t>& out) {
  if (s.shard < 0) {
    io::append_file_bytes(s.path.string(), out);
    return;
  }
  FT_ASSERT(data.shards && static_cast<std::size_t>(s.shard) < data.shards->size());
  const std::size_t at = out.size();
  out.resize(at + s.size);
  try {
    tar::pread_exact(data.shards->fd(s.shard), out.data() + at, s.size, s.offset,
                     sample_location(s));
  } catch (...) {
    out.resize(at);
    throw;
  }
  if (s.has_checksum && xxh3_of(out.data() + at, s.size) != s.xxh3) {
    out.resize(at);
    throw std::runtime_error(sample_location(s) + ": checksum mismatch (XXH3 of the " +
                             std::to_string(s.size) + " bytes at offset " +
                             std::to_string(s.offset) + " differs from the manifest's)");
  }
}

std::string sample_location(const Sample& s) {
  return s.shard < 0 ? s.path.string() : s.path.string() + ":" + s.member;
}

}  // namespace ft

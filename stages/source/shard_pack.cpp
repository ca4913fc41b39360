// The shard writer: tar members through one buffered descriptor per shard with the SHA-256 taken
// as the bytes go out, then fsync and rename; the manifest and the folder rename come last.
#include "stages/source/shard_pack.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>

#include "pipeline/error.hpp"
#include "stages/source/sha256.hpp"
#include "stages/source/shard_manifest.hpp"
#include "stages/source/shards.hpp"
#include "stages/source/tar.hpp"

namespace fs = std::filesystem;

namespace ft {

namespace {

[[noreturn]] void io_error(const fs::path& p, const std::string& what) {
  throw Error(p.string() + ": " + what + ": " + std::strerror(errno), 1);
}

// A file written through a buffer; its SHA-256 follows every byte.
class OutFile {
 public:
  explicit OutFile(fs::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) io_error(path_, "cannot create");
    buf_.reserve(kBuffer);
  }
  ~OutFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  void write(const void* data, std::size_t size) {
    sha_.update(data, size);
    bytes_ += size;
    const auto* p = static_cast<const std::uint8_t*>(data);
    buf_.insert(buf_.end(), p, p + size);
    if (buf_.size() >= kBuffer) flush();
  }
  // Flushes, fsyncs, closes and renames to `final_path`; returns the SHA-256.
  std::string commit(const fs::path& final_path) {
    flush();
    if (::fsync(fd_) != 0) io_error(path_, "fsync failed");
    ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    fs::rename(path_, final_path, ec);
    if (ec) throw Error(final_path.string() + ": cannot rename into place: " + ec.message(), 1);
    return sha_.hex_digest();
  }
  std::uint64_t bytes() const { return bytes_; }

 private:
  static constexpr std::size_t kBuffer = 1 << 20;
  void flush() {
    std::size_t done = 0;
    while (done < buf_.size()) {
      const ssize_t w = ::write(fd_, buf_.data() + done, buf_.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) io_error(path_, "write failed");
      done += static_cast<std::size_t>(w);
    }
    buf_.clear();
  }
  fs::path path_;
  int fd_ = -1;
  std::vector<std::uint8_t> buf_;
  Sha256 sha_;
  std::uint64_t bytes_ = 0;
};

void write_text_file(const fs::path& dir, const std::string& name, const std::string& text) {
  OutFile f(dir / (name + ".partial"));
  f.write(text.data(), text.size());
  f.commit(dir / name);
}

void add_member(OutFile& f, WdsSample& s, const std::string& ext, const std::uint8_t* data,
                std::size_t size) {
  static const char kZeros[tar::kBlock] = {};
  const std::string name = s.key + "." + ext;
  const auto header = tar::file_header(name, size);
  f.write(header.data(), header.size());
  s.components.push_back(WdsComponent{ext, f.bytes(), size, name});
  f.write(data, size);
  f.write(kZeros, tar::padded(size) - size);
}

// <out>.tmp-PID folders of packs whose process is gone.
void remove_stale_temps(const fs::path& out) {
  std::error_code ec;
  const std::string prefix = out.filename().string() + ".tmp-";
  const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string pid = name.substr(std::min(name.size(), prefix.size()));
    if (name.rfind(prefix, 0) != 0 || pid.empty() || pid.size() > 9 ||
        pid.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const long p = std::stol(pid);
    if (p == ::getpid() || ::kill(static_cast<pid_t>(p), 0) == 0 || errno == EPERM) continue;
    std::error_code rm;
    fs::remove_all(it->path(), rm);
  }
}

struct ShardInProgress {
  std::unique_ptr<OutFile> file;
  ShardInfo info;
  std::vector<WdsSample> index;
};

void close_shard(ShardInProgress& s, const fs::path& dir, Manifest& m, PackSummary& sum) {
  static const char kEnd[2 * tar::kBlock] = {};
  s.file->write(kEnd, sizeof kEnd);
  s.info.bytes = s.file->bytes();
  s.info.sha256 = s.file->commit(dir / s.info.tar);
  write_text_file(dir, s.info.idx, format_wds_index(s.index));
  sum.tar_bytes += s.info.bytes;
  ++sum.shards;
  m.shards.push_back(std::move(s.info));
  s = ShardInProgress{};
}

void write_shards(const Dataset& data, const fs::path& dir, const PackOptions& opt, Manifest& m,
                  PackSummary& sum) {
  ShardInProgress cur;
  std::vector<std::uint8_t> bytes;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const Sample& s = data.samples[i];
    bytes.clear();
    try {
      append_sample_bytes(data, s, bytes);
    } catch (const std::runtime_error& e) {
      throw Error(std::string("pack: cannot read sample '") + s.id + "': " + e.what(), 2);
    }
    const std::string cls = s.label >= 0 ? std::to_string(s.label) : "";
    const std::uint64_t need =
        2 * tar::kBlock + tar::padded(bytes.size()) + tar::padded(cls.size());
    if (cur.file && cur.file->bytes() + need + 2 * tar::kBlock > opt.shard_bytes)
      close_shard(cur, dir, m, sum);
    if (!cur.file) {
      char name[32];
      std::snprintf(name, sizeof name, "shard-%06zu", m.shards.size());
      cur.info.tar = std::string(name) + ".tar";
      cur.info.idx = std::string(name) + ".idx";
      cur.file = std::make_unique<OutFile>(dir / (cur.info.tar + ".partial"));
    }
    char key[32];
    std::snprintf(key, sizeof key, "%09zu", i);
    cur.index.push_back(WdsSample{key, {}});
    add_member(*cur.file, cur.index.back(), "jpg", bytes.data(), bytes.size());
    if (!cls.empty())
      add_member(*cur.file, cur.index.back(), "cls",
                 reinterpret_cast<const std::uint8_t*>(cls.data()), cls.size());
    cur.info.ids.push_back(s.id);
    cur.info.labels.push_back(s.label);
    cur.info.xxh3.push_back(xxh3_of(bytes.data(), bytes.size()));
    sum.sample_bytes += bytes.size();
    ++sum.samples;
    if (opt.progress) opt.progress(i + 1, data.size(), sum.tar_bytes + cur.file->bytes());
  }
  if (cur.file) close_shard(cur, dir, m, sum);
}

}  // namespace

PackSummary pack_shards(const Dataset& data, const fs::path& out, const PackOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out, ec)))
    throw Error("pack: '" + out.string() + "' already exists; remove it or choose another --out",
                2);
  if (data.samples.empty()) throw Error("pack: the split '" + data.origin + "' has no samples", 2);
  if (!out.parent_path().empty()) fs::create_directories(out.parent_path());
  remove_stale_temps(out);
  const fs::path tmp = out.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  fs::create_directory(tmp);
  PackSummary sum;
  try {
    Manifest m;
    m.num_classes = data.num_classes;
    m.class_names = data.class_names;
    m.source = data.origin;
    write_shards(data, tmp, opt, m, sum);
    write_text_file(tmp, kManifestName, format_manifest(m));
    fs::rename(tmp, out);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

std::uint64_t parse_byte_size(const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = text.substr(used);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const double mult = unit == "" || unit == "B" ? 1
                      : unit == "KB"            ? 1e3
                      : unit == "MB"            ? 1e6
                      : unit == "GB"            ? 1e9
                      : unit == "KIB"           ? 1024.0
                      : unit == "MIB"           ? 1048576.0
                      : unit == "GIB"           ? 1073741824.0
                                                : 0;
  const double bytes = v * mult;
  if (used == 0 || mult == 0 || !std::isfinite(bytes) || bytes < 1e3 || bytes > 1e12)
    throw Error(
        "shard size '" + text + "' is not a size between 1KB and 1TB (e.g. 256MB, 1GB, 512MiB)", 2);
  return static_cast<std::uint64_t>(bytes);
}

}  // namespace ft

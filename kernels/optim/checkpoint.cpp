// Checkpoint serialisation (see checkpoint.hpp for the layout). The reader bounds-checks every
// field even though the CRC already vouches for the payload, so a bug in a writer cannot make
// it read past the buffer.
#include "kernels/optim/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "kernels/io/regular_file.hpp"

namespace ft::optim {

static_assert(std::endian::native == std::endian::little, "checkpoint I/O assumes little-endian");

namespace {

constexpr char kMagic[8] = {'F', 'T', 'C', 'K', 'P', 'T', '\r', '\n'};

std::uint32_t crc_of(std::uint32_t crc, const void* data, std::size_t n) {
  return static_cast<std::uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), n));
}

std::string errno_text() { return std::strerror(errno); }

std::int64_t numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

// Writes the payload through stdio while computing its size and CRC.
class PayloadWriter {
 public:
  PayloadWriter(std::FILE* f) : f_(f) {}
  void bytes(const void* p, std::size_t n) {
    if (n == 0) return;
    if (std::fwrite(p, 1, n, f_) != n) ok_ = false;
    crc_ = crc_of(crc_, p, n);
    size_ += n;
  }
  template <class T>
  void pod(T v) {
    bytes(&v, sizeof v);
  }
  void name(const std::string& s) {
    pod(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  bool ok() const { return ok_; }
  std::uint32_t crc() const { return crc_; }
  std::uint64_t size() const { return size_; }

 private:
  std::FILE* f_;
  bool ok_ = true;
  std::uint32_t crc_ = crc_of(0, nullptr, 0);
  std::uint64_t size_ = 0;
};

// Reads the payload from memory; `base` is the payload's file offset, for messages.
class PayloadReader {
 public:
  PayloadReader(const std::string& path, const char* p, std::size_t n, std::size_t base)
      : path_(path), p_(p), n_(n), base_(base) {}
  void bytes(void* out, std::size_t n) {
    need(n);
    if (n == 0) return;  // an empty tensor's out is an empty vector's null data(): no memcpy
    std::memcpy(out, p_ + pos_, n);
    pos_ += n;
  }
  template <class T>
  T pod() {
    T v;
    bytes(&v, sizeof v);
    return v;
  }
  std::string name() {
    const auto len = pod<std::uint32_t>();
    need(len);
    std::string s(p_ + pos_, len);
    pos_ += len;
    return s;
  }
  void need(std::uint64_t n) const {
    if (n > n_ - pos_)
      throw std::runtime_error("checkpoint " + path_ + ": corrupt payload: a field at byte " +
                               std::to_string(base_ + pos_) + " needs " + std::to_string(n) +
                               " bytes but the payload ends at byte " + std::to_string(base_ + n_));
  }
  bool done() const { return pos_ == n_; }
  std::size_t offset() const { return base_ + pos_; }

 private:
  std::string path_;
  const char* p_;
  std::size_t n_;
  std::size_t base_;
  std::size_t pos_ = 0;
};

void write_payload(PayloadWriter& w, const Checkpoint& c) {
  w.pod(static_cast<std::uint64_t>(c.tensors.size()));
  for (const auto& [name, t] : c.tensors) {
    if (numel(t.shape) != static_cast<std::int64_t>(t.data.size()))
      throw std::invalid_argument("tensor '" + name + "' has shape " + shape_string(t.shape) +
                                  " but " + std::to_string(t.data.size()) + " values");
    w.name(name);
    w.pod(static_cast<std::uint32_t>(t.shape.size()));
    w.bytes(t.shape.data(), t.shape.size() * sizeof(std::int64_t));
    w.bytes(t.data.data(), t.data.size() * sizeof(float));
  }
  w.pod(static_cast<std::uint64_t>(c.ints.size()));
  for (const auto& [name, v] : c.ints) {
    w.name(name);
    w.pod(v);
  }
  w.pod(static_cast<std::uint64_t>(c.strings.size()));
  for (const auto& [name, s] : c.strings) {
    w.name(name);
    w.pod(static_cast<std::uint64_t>(s.size()));
    w.bytes(s.data(), s.size());
  }
}

void fsync_directory(const std::filesystem::path& dir, const std::string& path_text) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    throw std::runtime_error("checkpoint " + path_text +
                             ": cannot open its directory to fsync: " + errno_text());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    throw std::runtime_error("checkpoint " + path_text +
                             ": fsync of its directory failed: " + errno_text());
}

}  // namespace

std::string shape_string(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

const TensorRecord& Checkpoint::tensor(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end())
    throw std::runtime_error("checkpoint " + source + ": no tensor '" + name + "'");
  return it->second;
}

std::int64_t Checkpoint::int_value(const std::string& name) const {
  auto it = ints.find(name);
  if (it == ints.end())
    throw std::runtime_error("checkpoint " + source + ": no integer '" + name + "'");
  return it->second;
}

const std::string& Checkpoint::string_value(const std::string& name) const {
  auto it = strings.find(name);
  if (it == strings.end())
    throw std::runtime_error("checkpoint " + source + ": no string '" + name + "'");
  return it->second;
}

void save_checkpoint(const Checkpoint& ckpt, const std::filesystem::path& path) {
  const std::string path_text = path.string();
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr)
    throw std::runtime_error("checkpoint " + path_text + ": cannot create temp file " +
                             tmp.string() + ": " + errno_text());
  // Any failure from here on removes the temp file; the target is only touched by rename().
  auto fail = [&](const std::string& what) {
    if (f != nullptr) std::fclose(f);
    std::remove(tmp.c_str());
    throw std::runtime_error("checkpoint " + path_text + ": " + what);
  };
  char header[kCheckpointHeaderSize] = {};
  if (std::fwrite(header, 1, sizeof header, f) != sizeof header)
    fail("write failed: " + errno_text());
  PayloadWriter w(f);
  try {
    write_payload(w, ckpt);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  if (!w.ok()) fail("write to " + tmp.string() + " failed: " + errno_text());
  const std::uint32_t version = kCheckpointVersion, reserved = 0;
  const std::uint64_t payload_size = w.size();
  const std::uint32_t payload_crc = w.crc();
  std::memcpy(header, kMagic, 8);
  std::memcpy(header + 8, &version, 4);
  std::memcpy(header + 12, &reserved, 4);
  std::memcpy(header + 16, &payload_size, 8);
  std::memcpy(header + 24, &payload_crc, 4);
  const std::uint32_t header_crc = crc_of(crc_of(0, nullptr, 0), header, 28);
  std::memcpy(header + 28, &header_crc, 4);
  if (std::fseek(f, 0, SEEK_SET) != 0 || std::fwrite(header, 1, sizeof header, f) != sizeof header)
    fail("write to " + tmp.string() + " failed: " + errno_text());
  if (std::fflush(f) != 0) fail("flush of " + tmp.string() + " failed: " + errno_text());
  if (::fsync(::fileno(f)) != 0) fail("fsync of " + tmp.string() + " failed: " + errno_text());
  if (std::fclose(f) != 0) {
    f = nullptr;
    fail("close of " + tmp.string() + " failed: " + errno_text());
  }
  f = nullptr;
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    fail("rename of " + tmp.string() + " over the target failed: " + errno_text());
  fsync_directory(path.parent_path(), path_text);
}

void publish_checkpoint_copy(const std::filesystem::path& path, const std::filesystem::path& copy) {
  const std::string what = "checkpoint " + copy.string() + " (a copy of " + path.string() + ")";
  std::filesystem::path tmp = copy;
  tmp += ".tmp." + std::to_string(::getpid());
  std::remove(tmp.c_str());
  if (::link(path.c_str(), tmp.c_str()) != 0) {
    // No hard links here (some network and FUSE filesystems): copy the bytes and fsync them.
    const int link_errno = errno;
    std::error_code ec;
    if (!std::filesystem::copy_file(path, tmp, ec)) {
      std::remove(tmp.c_str());
      throw std::runtime_error(what + ": cannot link (" + std::strerror(link_errno) +
                               ") nor copy it: " + ec.message());
    }
    const int fd = ::open(tmp.c_str(), O_RDONLY);
    const bool synced = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!synced) {
      const std::string why = errno_text();
      std::remove(tmp.c_str());
      throw std::runtime_error(what + ": fsync of " + tmp.string() + " failed: " + why);
    }
  }
  if (std::rename(tmp.c_str(), copy.c_str()) != 0) {
    const std::string why = errno_text();
    std::remove(tmp.c_str());
    throw std::runtime_error(what + ": rename of " + tmp.string() + " over it failed: " + why);
  }
  fsync_directory(copy.parent_path(), copy.string());
}

void save_checkpoint(const Checkpoint& ckpt, const std::filesystem::path& path,
                     const std::vector<std::filesystem::path>& copies) {
  save_checkpoint(ckpt, path);
  for (const auto& c : copies) publish_checkpoint_copy(path, c);
}

namespace {

// The whole file, in one allocation and one read (checkpoints of large models are hundreds of MB).
std::vector<char> read_checkpoint_file(const std::string& p) {
  // Only a regular file: a directory would give std::bad_alloc (its "size") and a FIFO would block.
  int fd = -1;
  try {
    fd = io::open_regular_file(p);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("checkpoint " + std::string(e.what()));
  }
  std::FILE* f = ::fdopen(fd, "rb");
  if (f == nullptr) {
    ::close(fd);
    throw std::runtime_error("checkpoint " + p + ": cannot open: " + errno_text());
  }
  std::vector<char> bytes;
  bool read_error = std::fseek(f, 0, SEEK_END) != 0;
  const long size = read_error ? -1 : std::ftell(f);
  read_error = read_error || size < 0 || std::fseek(f, 0, SEEK_SET) != 0;
  if (!read_error) {
    bytes.resize(static_cast<std::size_t>(size));
    read_error = std::fread(bytes.data(), 1, bytes.size(), f) != bytes.size();
  }
  std::fclose(f);
  if (read_error) throw std::runtime_error("checkpoint " + p + ": read error: " + errno_text());
  return bytes;
}

// Checks the header (magic, checksum, version, size) and returns the payload's size.
std::uint64_t checked_payload_size(const std::vector<char>& bytes, const std::string& p) {
  if (bytes.size() < kCheckpointHeaderSize) {
    if (bytes.size() >= 8 && std::memcmp(bytes.data(), kMagic, 8) != 0)
      throw std::runtime_error("checkpoint " + p + ": wrong magic: not a flowtrain checkpoint");
    throw std::runtime_error("checkpoint " + p + ": truncated at byte " +
                             std::to_string(bytes.size()) + ": the header needs " +
                             std::to_string(kCheckpointHeaderSize) + " bytes");
  }
  if (std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw std::runtime_error("checkpoint " + p + ": wrong magic: not a flowtrain checkpoint");
  std::uint32_t version, payload_crc, header_crc;
  std::uint64_t payload_size;
  std::memcpy(&version, bytes.data() + 8, 4);
  std::memcpy(&payload_size, bytes.data() + 16, 8);
  std::memcpy(&payload_crc, bytes.data() + 24, 4);
  std::memcpy(&header_crc, bytes.data() + 28, 4);
  if (crc_of(crc_of(0, nullptr, 0), bytes.data(), 28) != header_crc)
    throw std::runtime_error("checkpoint " + p + ": header checksum mismatch (corrupt header)");
  if (version != kCheckpointVersion)
    throw std::runtime_error("checkpoint " + p + ": unsupported version " +
                             std::to_string(version) + " (this build reads version " +
                             std::to_string(kCheckpointVersion) + ")");
  const std::uint64_t expected = kCheckpointHeaderSize + payload_size;
  if (bytes.size() < expected)
    throw std::runtime_error("checkpoint " + p + ": truncated at byte " +
                             std::to_string(bytes.size()) + ": the header promises " +
                             std::to_string(expected) + " bytes");
  if (bytes.size() > expected)
    throw std::runtime_error("checkpoint " + p + ": " + std::to_string(bytes.size() - expected) +
                             " unexpected bytes after the payload (file is " +
                             std::to_string(bytes.size()) + " bytes, expected " +
                             std::to_string(expected) + ")");
  const char* payload = bytes.data() + kCheckpointHeaderSize;
  if (crc_of(crc_of(0, nullptr, 0), payload, payload_size) != payload_crc)
    throw std::runtime_error("checkpoint " + p + ": checksum mismatch (payload corrupt)");
  return payload_size;
}

// The tensors, ints and strings of a checked payload.
Checkpoint parse_payload(const char* payload, std::uint64_t payload_size, const std::string& p) {
  Checkpoint c;
  c.source = p;
  PayloadReader r(p, payload, payload_size, kCheckpointHeaderSize);
  const auto n_tensors = r.pod<std::uint64_t>();
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    std::string name = r.name();
    TensorRecord t;
    const auto ndim = r.pod<std::uint32_t>();
    r.need(std::uint64_t{ndim} * sizeof(std::int64_t));
    t.shape.resize(ndim);
    r.bytes(t.shape.data(), ndim * sizeof(std::int64_t));
    std::uint64_t n = 1;
    for (std::int64_t d : t.shape) {
      if (d < 0 || (d > 0 && n > (std::uint64_t{1} << 60) / static_cast<std::uint64_t>(d)))
        throw std::runtime_error("checkpoint " + p + ": tensor '" + name +
                                 "' has an invalid shape " + shape_string(t.shape));
      n *= static_cast<std::uint64_t>(d);
    }
    r.need(n * sizeof(float));
    t.data.resize(n);
    r.bytes(t.data.data(), n * sizeof(float));
    c.tensors.emplace(std::move(name), std::move(t));
  }
  const auto n_ints = r.pod<std::uint64_t>();
  for (std::uint64_t i = 0; i < n_ints; ++i) {
    std::string name = r.name();
    c.ints[name] = r.pod<std::int64_t>();
  }
  const auto n_strings = r.pod<std::uint64_t>();
  for (std::uint64_t i = 0; i < n_strings; ++i) {
    std::string name = r.name();
    const auto len = r.pod<std::uint64_t>();
    r.need(len);
    std::string s(len, '\0');
    r.bytes(s.data(), len);
    c.strings[name] = std::move(s);
  }
  if (!r.done())
    throw std::runtime_error("checkpoint " + p + ": corrupt payload: unread bytes from byte " +
                             std::to_string(r.offset()));
  return c;
}

}  // namespace

Checkpoint load_checkpoint(const std::filesystem::path& path) {
  const std::string p = path.string();
  const std::vector<char> bytes = read_checkpoint_file(p);
  const std::uint64_t payload_size = checked_payload_size(bytes, p);
  return parse_payload(bytes.data() + kCheckpointHeaderSize, payload_size, p);
}

}  // namespace ft::optim

// ustar header writing and a header walk over ustar/GNU/pax archives (POSIX.1-2001 pax, GNU tar's
// manual "Basic Tar Format"): sizes in octal or GNU base-256, checksums as unsigned (or historic
// signed) byte sums with the checksum field read as spaces.
#include "stages/source/tar.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace ft::tar {

namespace {

// Meta entries (long names, pax records) larger than this are refused: a name is never that long.
constexpr std::uint64_t kMaxMetaSize = 1 << 20;

void put_octal(char* field, std::size_t width, std::uint64_t v) {
  // width - 1 digits and a NUL, as GNU tar writes them.
  field[width - 1] = '\0';
  for (std::size_t i = width - 1; i-- > 0; v >>= 3) field[i] = static_cast<char>('0' + (v & 7));
}

std::string field_string(const char* f, std::size_t width) {
  return std::string(f, strnlen(f, width));
}

[[noreturn]] void fail(const std::string& path, std::uint64_t at, const std::string& what) {
  throw std::runtime_error(path + ": header at byte " + std::to_string(at) + ": " + what);
}

// An octal (spaces/NULs around it) or GNU base-256 number; nullopt-like false when malformed.
bool parse_number(const char* f, std::size_t width, std::uint64_t& out) {
  const auto* u = reinterpret_cast<const unsigned char*>(f);
  if (u[0] & 0x80) {  // base-256: big-endian, the first byte's top bit set (negative: refused)
    if (u[0] & 0x40) return false;
    std::uint64_t v = u[0] & 0x3F;
    for (std::size_t i = 1; i < width; ++i) {
      if (v >> 56) return false;
      v = v << 8 | u[i];
    }
    out = v;
    return true;
  }
  std::size_t i = 0;
  while (i < width && (f[i] == ' ' || f[i] == '\0')) ++i;
  std::uint64_t v = 0;
  bool any = false;
  for (; i < width && f[i] >= '0' && f[i] <= '7'; ++i, any = true) {
    if (v >> 60) return false;
    v = v * 8 + static_cast<std::uint64_t>(f[i] - '0');
  }
  for (; i < width; ++i)
    if (f[i] != ' ' && f[i] != '\0') return false;
  out = any ? v : 0;
  return true;
}

bool checksum_ok(const char* h) {
  std::uint64_t stored = 0;
  if (!parse_number(h + 148, 8, stored)) return false;
  std::int64_t sum_u = 0, sum_s = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    const bool in_field = i >= 148 && i < 156;
    sum_u += in_field ? ' ' : static_cast<unsigned char>(h[i]);
    sum_s += in_field ? ' ' : static_cast<signed char>(h[i]);
  }
  return static_cast<std::int64_t>(stored) == sum_u || static_cast<std::int64_t>(stored) == sum_s;
}

// The `path` record of a pax extended header ("LEN path=VALUE\n" records), or "".
std::string pax_path(const std::string& data) {
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t space = data.find(' ', pos);
    if (space == std::string::npos) break;
    std::size_t len = 0;
    for (std::size_t i = pos; i < space; ++i) {
      if (data[i] < '0' || data[i] > '9' || len > data.size()) return {};
      len = len * 10 + static_cast<std::size_t>(data[i] - '0');
    }
    if (len == 0 || pos + len > data.size() || data[pos + len - 1] != '\n') return {};
    const std::string rec = data.substr(space + 1, pos + len - space - 2);
    if (rec.rfind("path=", 0) == 0) return rec.substr(5);
    pos += len;
  }
  return {};
}

}  // namespace

std::array<char, kBlock> file_header(const std::string& name, std::uint64_t size) {
  if (name.empty() || name.size() > 100)
    throw std::invalid_argument("tar member name '" + name + "' must be 1 to 100 bytes");
  std::array<char, kBlock> h{};
  std::memcpy(h.data(), name.data(), name.size());
  put_octal(h.data() + 100, 8, 0644);  // mode
  put_octal(h.data() + 108, 8, 0);     // uid
  put_octal(h.data() + 116, 8, 0);     // gid
  put_octal(h.data() + 124, 12, size);
  put_octal(h.data() + 136, 12, 0);  // mtime
  h[156] = '0';                      // regular file
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  put_octal(h.data() + 148, 7, sum);  // six digits, NUL, then the space left in place
  return h;
}

bool safe_member_name(const std::string& name) {
  if (name.empty() || name.front() == '/') return false;
  for (char c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}

void pread_exact(int fd, void* out, std::uint64_t size, std::uint64_t offset,
                 const std::string& path) {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    const ssize_t r = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw std::runtime_error(path + ": read error: " + std::strerror(errno));
    if (r == 0)
      throw std::runtime_error(path + ": truncated: ends before byte " +
                               std::to_string(offset + size));
    p += r, size -= static_cast<std::uint64_t>(r), offset += static_cast<std::uint64_t>(r);
  }
}

std::vector<Member> list_members(int fd, std::uint64_t file_size, const std::string& path) {
  std::vector<Member> out;
  std::string long_name;  // from a GNU 'L' or pax 'x' entry, for the next member
  char h[kBlock];
  std::uint64_t at = 0;
  for (;;) {
    if (at + kBlock > file_size)
      fail(path, at,
           "truncated archive (no end-of-archive blocks; the file ends at byte " +
               std::to_string(file_size) + ")");
    pread_exact(fd, h, kBlock, at, path);
    if (std::all_of(h, h + kBlock, [](char c) { return c == 0; })) break;  // end of archive
    if (!checksum_ok(h)) fail(path, at, "header checksum mismatch (not a tar file, or corrupt)");
    std::uint64_t size = 0;
    if (!parse_number(h + 124, 12, size)) fail(path, at, "malformed size field");
    const std::uint64_t data = at + kBlock;
    if (size > file_size || data + padded(size) > file_size)
      fail(path, at,
           "member of " + std::to_string(size) + " bytes runs past the end of the " +
               std::to_string(file_size) + "-byte file (truncated)");
    const char type = h[156];
    if (type == 'L' || type == 'x') {
      if (size > kMaxMetaSize) fail(path, at, "long-name entry of absurd size");
      std::string meta(size, '\0');
      pread_exact(fd, meta.data(), size, data, path);
      long_name = type == 'L' ? field_string(meta.data(), size) : pax_path(meta);
    } else if (type == '0' || type == '\0' || type == '7') {
      std::string name = long_name;
      if (name.empty()) {
        name = field_string(h, 100);
        const std::string prefix = field_string(h + 345, 155);
        // POSIX ustar ("ustar\0") only: GNU's "ustar  " headers keep atime/ctime there.
        if (std::memcmp(h + 257, "ustar", 6) == 0 && !prefix.empty()) name = prefix + "/" + name;
      }
      while (name.rfind("./", 0) == 0) name = name.substr(2);
      if (!safe_member_name(name))
        fail(path, at, "unsafe member name '" + name + "' (absolute, '..' or control characters)");
      out.push_back(Member{std::move(name), data, size});
      long_name.clear();
    } else if (type != 'g') {
      long_name.clear();  // directory, link, device...: not a sample
    }
    at = data + padded(size);
  }
  return out;
}

}  // namespace ft::tar

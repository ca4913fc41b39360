// gzip IDX reader over zlib's gzopen/gzread.
#include "kernels/io/idx.hpp"

#include <zlib.h>

#include <stdexcept>

namespace ft::io {

namespace {

struct GzFile {
  gzFile f;
  ~GzFile() {
    if (f) gzclose(f);
  }
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

// Reads exactly n bytes or throws; zlib reports gzip corruption as a short read with an error.
void read_exact(gzFile f, void* out, std::size_t n, const std::string& path, const char* what) {
  auto* p = static_cast<std::uint8_t*>(out);
  while (n > 0) {
    const unsigned chunk = n > (1u << 30) ? (1u << 30) : static_cast<unsigned>(n);
    const int r = gzread(f, p, chunk);
    if (r <= 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      fail(path, std::string("truncated or corrupt IDX file while reading ") + what +
                     (errnum != Z_OK && msg ? std::string(" (") + msg + ")" : ""));
    }
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

std::uint32_t be32(const std::uint8_t* b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         b[3];
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  GzFile g{gzopen(path.c_str(), "rb")};
  if (!g.f) fail(path, "cannot open");
  std::uint8_t magic[4];
  read_exact(g.f, magic, 4, path, "the magic number");
  if (magic[0] != 0 || magic[1] != 0)
    fail(path, "not an IDX file (bad magic number; expected 0x0000TTNN)");
  if (magic[2] != 0x08)
    fail(path, "unsupported IDX element type " + std::to_string(magic[2]) + " (only u8 = 8)");
  const int ndim = magic[3];
  if (ndim < 1 || ndim > 4) fail(path, "unsupported IDX dimension count " + std::to_string(ndim));
  IdxArray a;
  std::size_t total = 1;
  for (int d = 0; d < ndim; ++d) {
    std::uint8_t b[4];
    read_exact(g.f, b, 4, path, "the dimensions");
    const std::size_t n = be32(b);
    if (n == 0 || n > (1u << 28)) fail(path, "implausible IDX dimension " + std::to_string(n));
    a.dims.push_back(n);
    total *= n;
    if (total > (std::size_t{1} << 34)) fail(path, "IDX file too large");
  }
  a.data.resize(total);
  read_exact(g.f, a.data.data(), total, path, "the data");
  std::uint8_t extra;
  if (gzread(g.f, &extra, 1) != 0)
    fail(path, "trailing bytes after the IDX data (sizes do not match)");
  return a;
}

IdxArray read_idx_images(const std::string& path) {
  IdxArray a = read_idx(path);
  if (a.dims.size() != 3)
    fail(path,
         "expected an IDX images file (3 dimensions), found " + std::to_string(a.dims.size()));
  return a;
}

IdxArray read_idx_labels(const std::string& path) {
  IdxArray a = read_idx(path);
  if (a.dims.size() != 1)
    fail(path, "expected an IDX labels file (1 dimension), found " + std::to_string(a.dims.size()));
  return a;
}

}  // namespace ft::io

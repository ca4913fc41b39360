// TurboJPEG-backed JPEG decode/encode. Handles are per thread (TurboJPEG handles are not
// thread-safe, and creating one per image costs more than decoding a 28x28 image).
#include "kernels/io/jpeg.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace ft::io {

namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw std::runtime_error(name + ": " + what);
}

// libjpeg warnings that leave the pixels intact; every other warning (premature end of file,
// premature end of data segment, bad Huffman code, ...) means part of the image is missing.
bool harmless_warning(const char* msg) { return std::strstr(msg, "extraneous bytes") != nullptr; }

void check_stream(const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (size == 0) fail(name, "empty file");
  if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) fail(name, "not a JPEG (no SOI marker)");
  if (size > 0xFFFFFFFFu) fail(name, "file too large for TurboJPEG");
}

}  // namespace

JpegDecoder::JpegDecoder() : handle_(tjInitDecompress()) {
  if (!handle_)
    throw std::runtime_error(std::string("tjInitDecompress failed: ") + tjGetErrorStr2(nullptr));
}

JpegDecoder::~JpegDecoder() { tjDestroy(static_cast<tjhandle>(handle_)); }

JpegInfo JpegDecoder::header(const std::uint8_t* data, std::size_t size, const std::string& name) {
  check_stream(data, size, name);
  auto h = static_cast<tjhandle>(handle_);
  int w = 0, ht = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &w, &ht, &subsamp,
                          &colorspace) != 0) {
    const std::string msg = tjGetErrorStr2(h);
    reset();
    fail(name, "corrupt JPEG header: " + msg);
  }
  if (w <= 0 || ht <= 0) fail(name, "corrupt JPEG header: zero image size");
  JpegInfo info;
  info.width = w;
  info.height = ht;
  info.channels = colorspace == TJCS_GRAY ? 1 : 3;
  return info;
}

void JpegDecoder::decode(const std::uint8_t* data, std::size_t size, std::uint8_t* out,
                         const JpegInfo& info, int channels, const std::string& name) {
  if (channels != 1 && channels != 3)
    throw std::invalid_argument(name + ": channels must be 1 or 3");
  check_stream(data, size, name);
  auto h = static_cast<tjhandle>(handle_);
  const int pf = channels == 1 ? TJPF_GRAY : TJPF_RGB;
  const int rc = tjDecompress2(h, data, static_cast<unsigned long>(size), out, info.width,
                               info.width * channels, info.height, pf, TJFLAG_ACCURATEDCT);
  if (rc == 0) return;
  const std::string msg = tjGetErrorStr2(h);
  const bool warning = tjGetErrorCode(h) == TJERR_WARNING;
  if (warning && harmless_warning(msg.c_str())) return;
  reset();
  if (!warning) fail(name, "corrupt JPEG: " + msg);
  if (msg.find("Premature end of JPEG file") != std::string::npos)
    fail(name, "truncated JPEG (" + msg + ")");
  fail(name, "corrupt JPEG data (" + msg + ")");
}

void JpegDecoder::reset() {
  tjDestroy(static_cast<tjhandle>(handle_));
  handle_ = tjInitDecompress();
  if (!handle_)
    throw std::runtime_error(std::string("tjInitDecompress failed: ") + tjGetErrorStr2(nullptr));
}

JpegDecoder& thread_jpeg_decoder() {
  thread_local JpegDecoder decoder;
  return decoder;
}

std::vector<std::uint8_t> decode_jpeg(const std::uint8_t* data, std::size_t size, JpegInfo& info,
                                      const std::string& name, int forced_channels) {
  JpegDecoder& d = thread_jpeg_decoder();
  info = d.header(data, size, name);
  if (forced_channels != 0) info.channels = forced_channels;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(info.height) * info.width * info.channels);
  d.decode(data, size, out.data(), info, info.channels, name);
  return out;
}

namespace {

struct Compressor {
  tjhandle h = tjInitCompress();
  ~Compressor() { tjDestroy(h); }
};

}  // namespace

std::vector<std::uint8_t> encode_jpeg(const std::uint8_t* pixels, int height, int width,
                                      int channels, int quality) {
  if (channels != 1 && channels != 3)
    throw std::invalid_argument("encode_jpeg: channels must be 1 or 3");
  if (height <= 0 || width <= 0) throw std::invalid_argument("encode_jpeg: empty image");
  thread_local Compressor c;
  if (!c.h)
    throw std::runtime_error(std::string("tjInitCompress failed: ") + tjGetErrorStr2(nullptr));
  const int pf = channels == 1 ? TJPF_GRAY : TJPF_RGB;
  const int subsamp = channels == 1 ? TJSAMP_GRAY : (quality >= 90 ? TJSAMP_444 : TJSAMP_420);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  if (tjCompress2(c.h, pixels, width, width * channels, height, pf, &buf, &len, subsamp, quality,
                  TJFLAG_ACCURATEDCT) != 0) {
    std::string msg = tjGetErrorStr2(c.h);
    tjFree(buf);
    throw std::runtime_error("encode_jpeg: " + msg);
  }
  std::vector<std::uint8_t> out(buf, buf + len);
  tjFree(buf);
  return out;
}

std::size_t append_file_bytes(const std::string& path, std::vector<std::uint8_t>& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const int e = errno;
    ::close(fd);
    fail(path, S_ISREG(st.st_mode) ? std::string("cannot stat: ") + std::strerror(e)
                                   : "not a regular file");
  }
  const std::size_t start = out.size(), n = static_cast<std::size_t>(st.st_size);
  out.resize(start + n);
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, out.data() + start + got, n - got);
    if (r <= 0) {
      const int e = errno;
      ::close(fd);
      out.resize(start);
      fail(path,
           r == 0 ? "file shrank while reading" : std::string("read error: ") + std::strerror(e));
    }
    got += static_cast<std::size_t>(r);
  }
  ::close(fd);
  return n;
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::vector<std::uint8_t> out;
  append_file_bytes(path, out);
  return out;
}

void write_file_bytes(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail(path, std::string("cannot create: ") + std::strerror(errno));
  const bool ok = std::fwrite(data, 1, size, f) == size;
  if (std::fclose(f) != 0 || !ok) fail(path, "write failed (disk full?)");
}

}  // namespace ft::io

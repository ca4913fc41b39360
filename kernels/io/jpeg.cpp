// TurboJPEG-backed JPEG decode/encode. Handles are per thread (TurboJPEG handles are not
// thread-safe, and creating one per image costs more than decoding a 28x28 image).
#include "kernels/io/jpeg.hpp"

#include <turbojpeg.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>

#include "kernels/io/regular_file.hpp"

namespace ft::io {

namespace {

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  throw std::runtime_error(name + ": " + what);
}

// libjpeg warnings that leave the pixels intact; every other warning (premature end of file,
// premature end of data segment, bad Huffman code, ...) means part of the image is missing.
bool harmless_warning(const char* msg) { return std::strstr(msg, "extraneous bytes") != nullptr; }

std::string dims_text(const JpegInfo& info) {
  return std::to_string(info.width) + "x" + std::to_string(info.height);
}

// PIL's MULDIV255: a * b / 255 rounded, in integers (Convert.c).
inline int muldiv255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// PIL's L from RGB (ITU-R 601-2 luma, L24 in Convert.c).
inline std::uint8_t luma(const std::uint8_t* rgb) {
  return static_cast<std::uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >>
                                   16);
}

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

JpegInfo JpegDecoder::header(const std::uint8_t* data, std::size_t size, const std::string& name,
                             std::int64_t max_pixels) {
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
  info.cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  const std::int64_t pixels = std::int64_t{w} * ht;
  if (pixels > max_pixels)
    fail(name, "image is " + dims_text(info) + " = " + std::to_string(pixels) +
                   " pixels, over the limit of " + std::to_string(max_pixels) +
                   " (max_pixels; a decompression bomb?)");
  return info;
}

void adobe_cmyk_to_rgb(const std::uint8_t* cmyk, std::uint8_t* rgb) {
  // PIL reads four-component JPEGs as "CMYK;I" (Adobe's inverted ink values, assumed whether or
  // not the file has an Adobe marker), then cmyk2rgb: nk = 255 - k, out = nk - nk * c / 255. With
  // the inversion undone, nk is the stored K and c is 255 - the stored value.
  const int nk = cmyk[3];
  for (int k = 0; k < 3; ++k) rgb[k] = static_cast<std::uint8_t>(nk - muldiv255(255 - cmyk[k], nk));
}

void JpegDecoder::decode(const std::uint8_t* data, std::size_t size, std::uint8_t* out,
                         const JpegInfo& info, int channels, const std::string& name) {
  if (channels != 1 && channels != 3)
    throw std::invalid_argument(name + ": channels must be 1 or 3");
  check_stream(data, size, name);
  auto h = static_cast<tjhandle>(handle_);
  const std::size_t pixels = static_cast<std::size_t>(info.width) * info.height;
  std::uint8_t* dst = out;
  int pf = channels == 1 ? TJPF_GRAY : TJPF_RGB;
  if (info.cmyk) {
    try {
      cmyk_.resize(pixels * 4);
    } catch (const std::bad_alloc&) {
      fail(name, "out of memory for the CMYK pixels of a " + dims_text(info) + " image");
    }
    dst = cmyk_.data();
    pf = TJPF_CMYK;
  }
  const int rc = tjDecompress2(h, data, static_cast<unsigned long>(size), dst, info.width,
                               info.width * tjPixelSize[pf], info.height, pf, TJFLAG_ACCURATEDCT);
  if (rc != 0) {
    const std::string msg = tjGetErrorStr2(h);
    const bool warning = tjGetErrorCode(h) == TJERR_WARNING;
    if (!warning || !harmless_warning(msg.c_str())) {
      reset();
      if (msg.find("Insufficient memory") != std::string::npos)
        fail(name, "out of memory decoding a " + dims_text(info) + " image (" + msg + ")");
      if (!warning) fail(name, "corrupt JPEG: " + msg);
      if (msg.find("Premature end of JPEG file") != std::string::npos)
        fail(name, "truncated JPEG (" + msg + ")");
      fail(name, "corrupt JPEG data (" + msg + ")");
    }
  }
  if (!info.cmyk) return;
  std::uint8_t rgb[3];
  for (std::size_t i = 0; i < pixels; ++i) {
    adobe_cmyk_to_rgb(dst + i * 4, channels == 3 ? out + i * 3 : rgb);
    if (channels == 1) out[i] = luma(rgb);
  }
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
                                      const std::string& name, int forced_channels,
                                      std::int64_t max_pixels) {
  JpegDecoder& d = thread_jpeg_decoder();
  info = d.header(data, size, name, max_pixels);
  if (forced_channels != 0) info.channels = forced_channels;
  const std::size_t bytes = static_cast<std::size_t>(info.height) * info.width * info.channels;
  std::vector<std::uint8_t> out;
  try {
    out.resize(bytes);
  } catch (const std::bad_alloc&) {
    fail(name,
         "out of memory for a " + dims_text(info) + " image (" + std::to_string(bytes) + " bytes)");
  }
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
  std::size_t n = 0;
  const int fd = open_regular_file(path, &n);
  const std::size_t start = out.size();
  try {
    out.resize(start + n);
  } catch (const std::bad_alloc&) {
    ::close(fd);
    fail(path, "out of memory reading " + std::to_string(n) + " bytes");
  }
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, out.data() + start + got, n - got);
    if (r < 0 && errno == EINTR) continue;
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

// JPEG decode and encode through the TurboJPEG 2.x API (libjpeg-turbo). Pixels are u8 HWC with
// 1 (grayscale) or 3 (RGB) channels; CMYK and YCCK JPEGs decode to RGB as PIL converts them.
// Every failure throws std::runtime_error naming the input ("<name>: <what is wrong>"); a
// truncated or corrupt stream is an error even where libjpeg only warns, so a damaged file never
// decodes into a silently grey image. The header's pixel count is checked against a limit before
// anything is allocated (a 700-byte file can claim 65000x65000 pixels).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ft::io {

// Pillow's Image.MAX_IMAGE_PIXELS (1024 * 1024 * 1024 // 4 // 3: a 1 GiB RGBA image). Pillow
// warns above it and refuses above twice it; flowtrain refuses above it (a warning in a data
// loader goes unseen), and the decode stage's max_pixels raises the limit.
inline constexpr std::int64_t kDefaultMaxPixels = 89'478'485;

struct JpegInfo {
  int height = 0, width = 0;
  int channels = 0;   // 1 for a grayscale JPEG, 3 for any colour one (decoded as RGB)
  bool cmyk = false;  // four components (CMYK or YCCK): decoded as CMYK, converted to RGB
};

// A TurboJPEG decompressor. Not thread-safe: use one per thread (see thread_jpeg_decoder()).
class JpegDecoder {
 public:
  JpegDecoder();
  ~JpegDecoder();
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  // Reads the header. `name` (a path or sample description) prefixes every error message. An
  // image of more than max_pixels pixels is refused here, naming its dimensions.
  JpegInfo header(const std::uint8_t* data, std::size_t size, const std::string& name,
                  std::int64_t max_pixels = kDefaultMaxPixels);
  // Decodes into out, which holds height * width * channels bytes; info comes from header().
  // channels: 1 or 3 (a colour JPEG decoded with 1 keeps the luma; a grayscale one decoded with 3
  // is replicated). A CMYK/YCCK JPEG (info.cmyk) becomes RGB as PIL's convert("RGB") makes it
  // (Adobe's inverted CMYK, R = (255 - K) - (255 - K) * C / 255 in PIL's integer rounding), and
  // its grayscale is PIL's convert("L") of that RGB.
  void decode(const std::uint8_t* data, std::size_t size, std::uint8_t* out, const JpegInfo& info,
              int channels, const std::string& name);

 private:
  // A TurboJPEG 2.1 handle is left mid-header after an error, and the next header it reads comes
  // back as 0x0: every failure replaces the handle.
  void reset();
  void* handle_;
  std::vector<std::uint8_t> cmyk_;  // CMYK scratch, kept across images
};

// This thread's decoder, created on first use and kept for the thread's lifetime.
JpegDecoder& thread_jpeg_decoder();

// Header then decode in one call; forced_channels 0 keeps the file's channel count. An image over
// max_pixels is refused before any allocation; running out of memory is an error naming the input
// (never a bare std::bad_alloc).
std::vector<std::uint8_t> decode_jpeg(const std::uint8_t* data, std::size_t size, JpegInfo& info,
                                      const std::string& name, int forced_channels = 0,
                                      std::int64_t max_pixels = kDefaultMaxPixels);

// PIL's CMYK -> RGB of one pixel from the values as stored in an Adobe JPEG (inverted: 255 = no
// ink), the conversion decode() applies; exposed for tests.
void adobe_cmyk_to_rgb(const std::uint8_t* cmyk, std::uint8_t* rgb);

// Encodes u8 HWC pixels (channels 1 or 3) as a baseline JPEG; grayscale stays one component,
// colour uses 4:2:0 chroma subsampling below quality 90 and 4:4:4 from 90 up.
std::vector<std::uint8_t> encode_jpeg(const std::uint8_t* pixels, int height, int width,
                                      int channels, int quality = 95);

// Whole file into memory; empty files are returned empty (the decoder names them). Only regular
// files are read: a directory, FIFO or device is an error naming the path and what it is.
std::vector<std::uint8_t> read_file_bytes(const std::string& path);
// Appends the file's bytes to out (keeps out's capacity: no allocation once it is large enough);
// returns the number of bytes appended.
std::size_t append_file_bytes(const std::string& path, std::vector<std::uint8_t>& out);
void write_file_bytes(const std::string& path, const std::uint8_t* data, std::size_t size);

}  // namespace ft::io

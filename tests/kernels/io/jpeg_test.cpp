// kernels/io/jpeg: round trips for grayscale and RGB, forced channel counts, and every way a file
// can be broken (empty, not a JPEG, corrupt header, corrupt data, truncated).
#include "kernels/io/jpeg.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ft::io;

namespace {

std::vector<std::uint8_t> gradient(int h, int w, int c) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h) * w * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        px[(static_cast<std::size_t>(y) * w + x) * c + k] =
            static_cast<std::uint8_t>((y * 3 + x * 2 + k * 40) % 256);
  return px;
}

double max_abs_diff(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

std::string error_of(const std::vector<std::uint8_t>& bytes, int channels = 0) {
  try {
    JpegInfo info;
    decode_jpeg(bytes.data(), bytes.size(), info, "x.jpg", channels);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("grayscale JPEG round trip keeps one channel") {
  const auto px = gradient(28, 28, 1);
  const auto jpg = encode_jpeg(px.data(), 28, 28, 1, 95);
  REQUIRE(jpg.size() > 100);
  JpegInfo info;
  const auto out = decode_jpeg(jpg.data(), jpg.size(), info, "g.jpg");
  CHECK(info.height == 28);
  CHECK(info.width == 28);
  CHECK(info.channels == 1);
  // Quality 95 on a smooth gradient: a few grey levels of DCT quantisation error at most.
  CHECK(max_abs_diff(out, px) <= 8);
}

TEST_CASE("RGB JPEG round trip keeps three channels; channels can be forced") {
  const auto px = gradient(20, 33, 3);
  const auto jpg = encode_jpeg(px.data(), 20, 33, 3, 95);
  JpegInfo info;
  const auto out = decode_jpeg(jpg.data(), jpg.size(), info, "c.jpg");
  CHECK(info.height == 20);
  CHECK(info.width == 33);
  CHECK(info.channels == 3);
  // 4:4:4 at quality 95 plus YCbCr rounding: small error on a smooth gradient.
  CHECK(max_abs_diff(out, px) <= 12);

  JpegInfo gi;
  const auto gray = decode_jpeg(jpg.data(), jpg.size(), gi, "c.jpg", 1);
  CHECK(gi.channels == 1);
  CHECK(gray.size() == 20u * 33u);

  const auto gpx = gradient(8, 8, 1);
  const auto gjpg = encode_jpeg(gpx.data(), 8, 8, 1);
  JpegInfo ri;
  const auto rgb = decode_jpeg(gjpg.data(), gjpg.size(), ri, "g.jpg", 3);
  REQUIRE(ri.channels == 3);
  REQUIRE(rgb.size() == 8u * 8u * 3u);
  for (std::size_t i = 0; i < 64; ++i) {  // grayscale expanded to RGB: equal channels
    CHECK(rgb[i * 3] == rgb[i * 3 + 1]);
    CHECK(rgb[i * 3] == rgb[i * 3 + 2]);
  }
}

TEST_CASE("broken JPEG streams throw naming the input and the fault") {
  const auto px = gradient(64, 64, 3);
  const auto jpg = encode_jpeg(px.data(), 64, 64, 3, 95);

  SUBCASE("empty") { CHECK(error_of({}) == "x.jpg: empty file"); }
  SUBCASE("not a JPEG") {
    const std::string png = "\x89PNG\r\n\x1a\n0000000000";
    const std::string e = error_of(std::vector<std::uint8_t>(png.begin(), png.end()));
    CHECK(e.find("x.jpg") == 0);
    CHECK(e.find("not a JPEG") != std::string::npos);
  }
  SUBCASE("truncated after the header") {
    auto t = jpg;
    t.resize(t.size() / 2);
    const std::string e = error_of(t);
    CHECK(e.find("x.jpg") == 0);
    CHECK(e.find("truncated") != std::string::npos);
  }
  SUBCASE("truncated inside the header") {
    auto t = jpg;
    t.resize(40);
    const std::string e = error_of(t);
    CHECK(e.find("x.jpg: ") == 0);
    CHECK(e.find("corrupt JPEG header") != std::string::npos);
  }
  SUBCASE("corrupt scan data") {
    auto t = jpg;
    // Overwrite the middle of the entropy-coded data with marker bytes: libjpeg meets an
    // unexpected marker and warns "premature end of data segment"; that must be an error.
    for (std::size_t i = t.size() / 2; i < t.size() / 2 + 16; ++i) t[i] = 0xFF;
    t[t.size() / 2 + 16] = 0xD9;
    const std::string e = error_of(t);
    CHECK(e.find("x.jpg: ") == 0);
    CHECK(e.find("JPEG") != std::string::npos);
  }
  SUBCASE("garbage after SOI") {
    std::vector<std::uint8_t> t = {0xFF, 0xD8, 0x12, 0x34, 0x56, 0x78, 0x9A};
    const std::string e = error_of(t);
    CHECK(e.find("x.jpg: corrupt JPEG header") == 0);
  }
}

TEST_CASE("a decoder that met a broken file decodes the next good one") {
  const auto px = gradient(28, 28, 1);
  const auto good = encode_jpeg(px.data(), 28, 28, 1, 95);
  auto truncated = good;
  truncated.resize(good.size() / 2);
  auto no_scan = good;
  no_scan.resize(300);  // tables and frame header, no SOS: fails inside the header read
  JpegDecoder& dec = thread_jpeg_decoder();
  for (const auto* broken : {&no_scan, &truncated}) {
    for (int round = 0; round < 2; ++round) {
      JpegInfo ignored;
      CHECK_THROWS(decode_jpeg(broken->data(), broken->size(), ignored, "bad.jpg"));
      const JpegInfo info = dec.header(good.data(), good.size(), "good.jpg");
      CHECK(info.height == 28);
      CHECK(info.width == 28);
      std::vector<std::uint8_t> out(28 * 28);
      CHECK_NOTHROW(dec.decode(good.data(), good.size(), out.data(), info, 1, "good.jpg"));
    }
  }
}

TEST_CASE("files are read whole and appended") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("ft_io_jpeg_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::vector<std::uint8_t> a = {1, 2, 3}, b = {4, 5};
  write_file_bytes((dir / "a").string(), a.data(), a.size());
  write_file_bytes((dir / "b").string(), b.data(), b.size());
  std::vector<std::uint8_t> out;
  CHECK(append_file_bytes((dir / "a").string(), out) == 3);
  CHECK(append_file_bytes((dir / "b").string(), out) == 2);
  CHECK(out == std::vector<std::uint8_t>{1, 2, 3, 4, 5});
  CHECK_THROWS_WITH(read_file_bytes((dir / "missing").string()),
                    doctest::Contains("missing: cannot open: No such file"));
  CHECK_THROWS_WITH(read_file_bytes(dir.string()), doctest::Contains("not a regular file"));
  std::filesystem::remove_all(dir);
}

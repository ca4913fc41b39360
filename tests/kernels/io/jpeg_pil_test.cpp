// kernels/io/jpeg against PIL (torchvision's decoder): the same pixels, bit for bit, for a 4:2:0
// RGB JPEG and a grayscale one. Fixtures: tests/fixtures/data/make_pil_fixtures.py.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "kernels/io/jpeg.hpp"

namespace {

std::string fixture(const std::string& name) {
  const char* root = std::getenv("FT_SOURCE_ROOT");
  REQUIRE_MESSAGE(root, "FT_SOURCE_ROOT is not set (run through meson test)");
  return std::string(root) + "/tests/fixtures/data/" + name;
}

void check_against_pil(const std::string& jpg, const std::string& raw, int h, int w, int c) {
  const auto bytes = ft::io::read_file_bytes(fixture(jpg));
  const auto ref = ft::io::read_file_bytes(fixture(raw));
  ft::io::JpegInfo info;
  const auto px = ft::io::decode_jpeg(bytes.data(), bytes.size(), info, jpg);
  CHECK(info.height == h);
  CHECK(info.width == w);
  CHECK(info.channels == c);
  REQUIRE(px.size() == ref.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < px.size(); ++i)
    if (px[i] != ref[i] && mismatches++ < 5)
      MESSAGE(jpg << ": byte " << i << " is " << int(px[i]) << ", PIL gives " << int(ref[i])
                  << " (regenerate with tests/fixtures/data/make_pil_fixtures.py if PIL changed)");
  // Both are libjpeg-turbo with ISLOW IDCT and fancy upsampling: exact equality is expected.
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("decode matches PIL exactly: 4:2:0 RGB") {
  check_against_pil("pil_rgb420.jpg", "pil_rgb420.rgb", 24, 32, 3);
}

TEST_CASE("decode matches PIL exactly: grayscale") {
  check_against_pil("pil_gray.jpg", "pil_gray.gray", 24, 32, 1);
}

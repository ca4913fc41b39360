// kernels/io/jpeg: four-component JPEGs (YCCK, plain CMYK, CMYK without an Adobe marker) decode to
// the RGB that PIL's Image.open(f).convert("RGB") gives, byte for byte. The JPEGs are made here
// (TurboJPEG, deterministic); PIL's pixels for the same bytes are in a text fixture made by
// tools/make_cmyk_fixtures.py.
#include <doctest/doctest.h>
#include <turbojpeg.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/io/jpeg.hpp"

using namespace ft::io;

namespace {

constexpr int kH = 16, kW = 16;

// The pattern of tools/make_cmyk_fixtures.py: ramps in every channel, K saturated on the left.
std::vector<std::uint8_t> cmyk_pattern() {
  std::vector<std::uint8_t> px;
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      px.push_back(static_cast<std::uint8_t>((x * 16 + y * 3) % 256));
      px.push_back(static_cast<std::uint8_t>((y * 16 + x * 5) % 256));
      px.push_back(static_cast<std::uint8_t>(((x + y) * 8) % 256));
      px.push_back(static_cast<std::uint8_t>(x < 8 ? 255 : (x * y * 4 + 30) % 256));
    }
  return px;
}

// TurboJPEG writes TJPF_CMYK input as YCCK (Adobe transform 2).
std::vector<std::uint8_t> ycck_jpeg() {
  tjhandle h = tjInitCompress();
  REQUIRE(h != nullptr);
  auto px = cmyk_pattern();
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  const int rc = tjCompress2(h, px.data(), kW, kW * 4, kH, TJPF_CMYK, &buf, &len, TJSAMP_420, 90,
                             TJFLAG_ACCURATEDCT);
  REQUIRE(rc == 0);
  std::vector<std::uint8_t> out(buf, buf + len);
  tjFree(buf);
  tjDestroy(h);
  return out;
}

std::size_t adobe_marker(const std::vector<std::uint8_t>& j) {
  for (std::size_t i = 2; i + 16 < j.size(); ++i)
    if (j[i] == 0xFF && j[i + 1] == 0xEE &&
        std::string(j.begin() + i + 4, j.begin() + i + 9) == "Adobe")
      return i;
  FAIL("no Adobe APP14 marker");
  return 0;
}

std::vector<std::uint8_t> make_case(const std::string& name) {
  auto j = ycck_jpeg();
  const std::size_t at = adobe_marker(j);
  REQUIRE(j[at + 15] == 2);            // YCCK
  if (name == "cmyk") j[at + 15] = 0;  // the same components read as plain CMYK
  if (name == "cmyk_no_adobe") {
    const std::size_t len = (std::size_t{j[at + 2]} << 8) | j[at + 3];
    j.erase(j.begin() + static_cast<std::ptrdiff_t>(at),
            j.begin() + static_cast<std::ptrdiff_t>(at + 2 + len));
  }
  return j;
}

std::uint64_t fnv1a64(const std::vector<std::uint8_t>& d) {
  std::uint64_t h = 0xCBF29CE484222325ull;
  for (std::uint8_t b : d) h = (h ^ b) * 0x100000001B3ull;
  return h;
}

struct PilCase {
  std::size_t jpeg_size = 0;
  std::uint64_t jpeg_hash = 0;
  std::vector<std::uint8_t> rgb;
};

PilCase pil_case(const std::string& name) {
  const char* root = std::getenv("FT_SOURCE_ROOT");
  REQUIRE_MESSAGE(root, "FT_SOURCE_ROOT is not set (run through meson test)");
  const std::string path = std::string(root) + "/tests/fixtures/data/pil_cmyk.txt";
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, path << " is missing: /usr/bin/python3 tools/make_cmyk_fixtures.py");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string tag, n;
    int h = 0, w = 0;
    PilCase c;
    if (!(ls >> tag >> n >> h >> w >> c.jpeg_size >> std::hex >> c.jpeg_hash) || tag != "case" ||
        n != name)
      continue;
    REQUIRE(h == kH);
    REQUIRE(w == kW);
    for (int v; c.rgb.size() < std::size_t{kH * kW * 3} && in >> v;)
      c.rgb.push_back(static_cast<std::uint8_t>(v));
    REQUIRE(c.rgb.size() == std::size_t{kH * kW * 3});
    return c;
  }
  FAIL("case " << name << " not in " << path);
  return {};
}

}  // namespace

TEST_CASE("CMYK and YCCK JPEGs decode to PIL's RGB exactly") {
  for (const std::string name : {"ycck", "cmyk", "cmyk_no_adobe"}) {
    CAPTURE(name);
    const auto jpg = make_case(name);
    const PilCase ref = pil_case(name);
    if (jpg.size() != ref.jpeg_size || fnv1a64(jpg) != ref.jpeg_hash)
      MESSAGE(
          "this libjpeg-turbo wrote other bytes than the fixture's "
          "(regenerate with /usr/bin/python3 tools/make_cmyk_fixtures.py)");
    REQUIRE(jpg.size() == ref.jpeg_size);
    REQUIRE(fnv1a64(jpg) == ref.jpeg_hash);

    JpegInfo info;
    const auto rgb = decode_jpeg(jpg.data(), jpg.size(), info, name + ".jpg");
    CHECK(info.cmyk);
    CHECK(info.channels == 3);
    CHECK(info.height == kH);
    CHECK(info.width == kW);
    REQUIRE(rgb.size() == ref.rgb.size());
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < rgb.size(); ++i)
      if (rgb[i] != ref.rgb[i] && mismatches++ < 5)
        MESSAGE(name << ": byte " << i << " is " << int(rgb[i]) << ", PIL gives "
                     << int(ref.rgb[i]));
    // Both sides are libjpeg-turbo's ISLOW IDCT with fancy upsampling and PIL's integer
    // conversion: exact equality is expected.
    CHECK(mismatches == 0);

    // Forced to one channel: PIL's convert("L") of that RGB (ITU-R 601-2, L24 rounding).
    JpegInfo gi;
    const auto gray = decode_jpeg(jpg.data(), jpg.size(), gi, name + ".jpg", 1);
    REQUIRE(gray.size() == std::size_t{kH * kW});
    for (std::size_t i = 0; i < gray.size(); ++i) {
      const std::uint8_t* p = ref.rgb.data() + i * 3;
      const int l = (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16;
      if (gray[i] != l) {
        CHECK_MESSAGE(int(gray[i]) == l, "pixel " << i);
        break;
      }
    }
  }
}

TEST_CASE("PIL's CMYK conversion: Adobe-inverted ink, integer rounding") {
  // Stored values (Adobe polarity: 255 = no ink). PIL: c = 255 - stored, nk = 255 - k,
  // out = nk - round(c * nk / 255). Values checked against PIL 9.4's Image.convert.
  const struct {
    std::uint8_t cmyk[4], rgb[3];
  } cases[] = {
      {{255, 255, 255, 255}, {255, 255, 255}},  // no ink: white
      {{0, 0, 0, 255}, {0, 0, 0}},              // full C, M, Y: black
      {{255, 255, 255, 0}, {0, 0, 0}},          // full K: black
      {{128, 64, 200, 200}, {100, 50, 157}},
      {{10, 250, 128, 30}, {1, 29, 15}},
  };
  for (const auto& c : cases) {
    std::uint8_t rgb[3];
    adobe_cmyk_to_rgb(c.cmyk, rgb);
    CHECK(int(rgb[0]) == int(c.rgb[0]));
    CHECK(int(rgb[1]) == int(c.rgb[1]));
    CHECK(int(rgb[2]) == int(c.rgb[2]));
  }
}

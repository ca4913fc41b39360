// stages/decode/decode_jpeg: grayscale, RGB and CMYK batches, forced channels, and corrupt,
// truncated, empty and non-JPEG files and decompression bombs under on_error = "fail" (names the
// sample) and "skip" (drops, counts).
#include "stages/decode/decode_jpeg.hpp"

#include <doctest/doctest.h>
#include <turbojpeg.h>

#include <string>
#include <vector>

#include "kernels/io/jpeg.hpp"
#include "pipeline/error.hpp"
#include "tests/hostile.hpp"

using namespace ft;

namespace {

std::vector<std::uint8_t> pattern(int h, int w, int c, int seed) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h) * w * c);
  for (std::size_t i = 0; i < px.size(); ++i)
    px[i] = static_cast<std::uint8_t>((i * 3 + seed * 40) % 200);
  return px;
}

std::vector<std::uint8_t> jpeg(int h, int w, int c, int seed) {
  const auto px = pattern(h, w, c, seed);
  return io::encode_jpeg(px.data(), h, w, c, 95);
}

void add(Batch& b, const std::string& id, const std::vector<std::uint8_t>& bytes) {
  b.id.push_back(id);
  b.index.push_back(static_cast<std::int64_t>(b.index.size()));
  b.label.push_back(static_cast<std::int32_t>(b.label.size() % 10));
  b.path.push_back("/data/" + id);
  b.jpeg.bytes.insert(b.jpeg.bytes.end(), bytes.begin(), bytes.end());
  b.jpeg.offsets.push_back(b.jpeg.bytes.size());
}

std::unique_ptr<DecodeJpeg> make_stage(toml::table values) {
  static const StageKind kind = decode_jpeg_kind();
  return std::make_unique<DecodeJpeg>(Params(std::move(values), "decode", "t.toml", &kind.params));
}

std::vector<std::uint8_t> decoded(const std::vector<std::uint8_t>& bytes, int channels = 0) {
  io::JpegInfo info;
  return io::decode_jpeg(bytes.data(), bytes.size(), info, "ref", channels);
}

// A batch of good files with one broken file in the middle.
Batch batch_with(const std::vector<std::uint8_t>& broken) {
  Batch b;
  add(b, "g0.jpg", jpeg(28, 28, 1, 0));
  add(b, "bad.jpg", broken);
  add(b, "c1.jpg", jpeg(16, 24, 3, 1));
  return b;
}

}  // namespace

TEST_CASE(
    "decode_jpeg: grayscale stays 1 channel, colour is RGB, pixels as the kernel decodes them") {
  Batch b;
  const auto g = jpeg(28, 28, 1, 0), c = jpeg(16, 24, 3, 1);
  for (int i = 0; i < 40; ++i) add(b, "s" + std::to_string(i), i % 2 ? c : g);
  auto st = make_stage({});
  st->run(b);
  REQUIRE(b.image.size() == 40);
  CHECK(b.image.dtype == DType::u8);
  CHECK(b.image.dims[0] == ImageDims{28, 28, 1});
  CHECK(b.image.dims[1] == ImageDims{16, 24, 3});
  const auto gref = decoded(g), cref = decoded(c);
  for (std::size_t i = 0; i < 40; ++i) {
    const auto& ref = i % 2 ? cref : gref;
    CHECK(std::equal(ref.begin(), ref.end(), b.image.u8_at(i)));
  }
  // Reuse of the same batch object (steady state): same result.
  st->run(b);
  CHECK(std::equal(cref.begin(), cref.end(), b.image.u8_at(39)));
}

TEST_CASE("decode_jpeg: forced channel counts") {
  Batch b;
  const auto g = jpeg(8, 8, 1, 0), c = jpeg(8, 8, 3, 1);
  add(b, "g", g);
  add(b, "c", c);
  auto rgb = make_stage(toml::table{{"channels", 3}});
  rgb->run(b);
  CHECK(b.image.dims[0] == ImageDims{8, 8, 3});
  CHECK(b.image.dims[1] == ImageDims{8, 8, 3});
  const auto gray_as_rgb = decoded(g, 3);
  CHECK(std::equal(gray_as_rgb.begin(), gray_as_rgb.end(), b.image.u8_at(0)));
  auto gray = make_stage(toml::table{{"channels", 1}});
  gray->run(b);
  CHECK(b.image.dims[1] == ImageDims{8, 8, 1});
  CHECK_THROWS_WITH_AS(make_stage(toml::table{{"channels", 2}}),
                       doctest::Contains("must be 0 (keep the file's), 1 or 3"), ConfigError);
}

TEST_CASE("decode_jpeg: broken files under both policies") {
  const auto good = jpeg(64, 64, 3, 2);
  auto truncated = good;
  truncated.resize(truncated.size() / 2);
  auto corrupt = good;
  for (std::size_t i = corrupt.size() / 2; i < corrupt.size() / 2 + 32; ++i) corrupt[i] = 0xFF;
  const std::string text = "hello, this is not an image";
  struct Case {
    const char* name;
    std::vector<std::uint8_t> bytes;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"empty", {}, "empty file"},
      {"not a JPEG", std::vector<std::uint8_t>(text.begin(), text.end()), "not a JPEG"},
      {"truncated", truncated, "truncated JPEG"},
      {"corrupt", corrupt, "corrupt JPEG"},
      // Fails inside the header read; the next file (decoded by the same handle) must still work.
      {"corrupt header", std::vector<std::uint8_t>(good.begin(), good.begin() + 300),
       "corrupt JPEG header"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    {
      Batch b = batch_with(c.bytes);
      auto st = make_stage({});
      const std::string expected = std::string("sample 'bad.jpg' (/data/bad.jpg): ") + c.reason;
      CHECK_THROWS_WITH_AS(st->run(b), doctest::Contains(expected.c_str()), Error);
    }
    {
      Batch b = batch_with(c.bytes);
      auto st = make_stage(toml::table{{"on_error", "skip"}});
      st->run(b);
      CHECK(st->skipped() == 1);
      REQUIRE(b.size() == 2);
      CHECK(b.index == std::vector<std::int64_t>{0, 2});
      REQUIRE(b.image.size() == 2);
      CHECK(b.image.dims[1] == ImageDims{16, 24, 3});
      const auto ref = decoded(jpeg(16, 24, 3, 1));
      CHECK(std::equal(ref.begin(), ref.end(), b.image.u8_at(1)));
      REQUIRE(st->skipped_examples().size() == 1);
      CHECK(st->skipped_examples()[0].find(c.reason) != std::string::npos);
      st->end_pass(PassInfo{});  // prints the count on stderr
    }
  }
}

TEST_CASE("decode_jpeg: a batch whose every file is broken becomes empty under skip") {
  Batch b;
  add(b, "a", {});
  add(b, "b", {1, 2, 3});
  auto st = make_stage(toml::table{{"on_error", "skip"}});
  st->run(b);
  CHECK(b.size() == 0);
  CHECK(b.image.size() == 0);
  CHECK(st->skipped() == 2);
}

// Batch::retain must not self-move (that empties a std::string in libstdc++): the ids and paths
// of the samples before the first dropped one must survive.
TEST_CASE("decode_jpeg: skip keeps the other samples' ids and paths") {
  Batch b = batch_with({});
  auto st = make_stage(toml::table{{"on_error", "skip"}});
  st->run(b);
  CHECK(b.id == std::vector<std::string>{"g0.jpg", "c1.jpg"});
  CHECK(b.path == std::vector<std::string>{"/data/g0.jpg", "/data/c1.jpg"});
  CHECK(b.label == std::vector<std::int32_t>{0, 2});
}

// Hostile input: a decompression bomb (a ~1 KB JPEG whose header claims 65000x65000 pixels, about
// 12.7 GB decoded) is refused from its header under either policy without allocating its pixels;
// run under an address-space limit, so that a regression fails here instead of exhausting memory.
TEST_CASE("decode_jpeg: a decompression bomb is handled by on_error without allocating") {
  const auto bomb = testing::with_claimed_size(jpeg(16, 16, 3, 3), 65000, 65000);
  REQUIRE(!bomb.empty());
  const std::size_t rss_before = testing::peak_rss_bytes();
  {
    testing::AddressSpaceLimit limit(std::size_t{1} << 30);
    Batch b = batch_with(bomb);
    auto st = make_stage({});
    CHECK_THROWS_WITH_AS(st->run(b),
                         doctest::Contains("sample 'bad.jpg' (/data/bad.jpg): image is "
                                           "65000x65000 = 4225000000 pixels, over the limit of "
                                           "89478485 (max_pixels"),
                         Error);

    Batch s = batch_with(bomb);
    auto skip = make_stage(toml::table{{"on_error", "skip"}});
    skip->run(s);
    CHECK(skip->skipped() == 1);
    CHECK(s.id == std::vector<std::string>{"g0.jpg", "c1.jpg"});
    REQUIRE(skip->skipped_examples().size() == 1);
    CHECK(skip->skipped_examples()[0].find("65000x65000") != std::string::npos);
  }
  CHECK(testing::peak_rss_bytes() - rss_before < (std::size_t{64} << 20));

  // max_pixels is the stage's: a lower one refuses the batch's 28x28 image too.
  Batch b = batch_with(jpeg(8, 8, 3, 4));
  auto st = make_stage(toml::table{{"max_pixels", 700}, {"on_error", "skip"}});
  st->run(b);
  CHECK(b.id == std::vector<std::string>{"bad.jpg", "c1.jpg"});  // g0.jpg is 28x28 = 784
}

TEST_CASE("decode_jpeg: running out of memory is that file's error: skipped, or named") {
  testing::AddressSpaceLimit limit(std::size_t{1} << 30);
  if (!limit.active()) return;  // AddressSanitizer: no address-space limit to run into
  const auto bomb = testing::with_claimed_size(jpeg(16, 16, 3, 3), 65000, 65000);
  const toml::table raised{{"max_pixels", std::int64_t{1} << 32}};
  {
    Batch b = batch_with(bomb);
    auto st = make_stage(raised);
    CHECK_THROWS_WITH_AS(
        st->run(b),
        doctest::Contains("sample 'bad.jpg' (/data/bad.jpg): out of memory decoding a 65000x65000"),
        Error);
  }
  toml::table skip = raised;
  skip.insert("on_error", "skip");
  Batch b = batch_with(bomb);
  auto st = make_stage(skip);
  st->run(b);
  CHECK(st->skipped() == 1);
  CHECK(b.id == std::vector<std::string>{"g0.jpg", "c1.jpg"});
  const auto ref = decoded(jpeg(16, 24, 3, 1));
  CHECK(std::equal(ref.begin(), ref.end(), b.image.u8_at(1)));
}

TEST_CASE("decode_jpeg: a CMYK (YCCK) JPEG decodes to RGB as the kernel decodes it") {
  tjhandle h = tjInitCompress();
  REQUIRE(h != nullptr);
  const auto px = pattern(12, 20, 4, 5);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  REQUIRE(tjCompress2(h, px.data(), 20, 20 * 4, 12, TJPF_CMYK, &buf, &len, TJSAMP_444, 90, 0) == 0);
  const std::vector<std::uint8_t> cmyk(buf, buf + len);
  tjFree(buf);
  tjDestroy(h);
  for (int channels : {0, 1}) {
    Batch b = batch_with(cmyk);
    auto st = make_stage(toml::table{{"channels", channels}});
    st->run(b);
    REQUIRE(b.size() == 3);
    CHECK(b.image.dims[1] == ImageDims{12, 20, channels == 0 ? 3 : 1});
    const auto ref = decoded(cmyk, channels);
    CHECK(std::equal(ref.begin(), ref.end(), b.image.u8_at(1)));
  }
}

// kernels/io under hostile input: a decompression bomb (a small JPEG whose header claims
// 65000x65000 pixels) is refused from its header without allocating; running out of memory is an
// error naming the file, never a bare std::bad_alloc; a FIFO, directory or device named as a data
// file is refused at once, naming what it is (a FIFO used to block the read forever).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/io/jpeg.hpp"
#include "tests/hostile.hpp"

using namespace ft::io;
namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> small_jpeg() {
  std::vector<std::uint8_t> px(16 * 16 * 3);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 7);
  return encode_jpeg(px.data(), 16, 16, 3, 90);
}

std::string decode_error(const std::vector<std::uint8_t>& jpg, std::int64_t max_pixels) {
  try {
    JpegInfo info;
    decode_jpeg(jpg.data(), jpg.size(), info, "bomb.jpg", 0, max_pixels);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("ft_io_hostile_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("a forged 65000x65000 header is refused before any allocation") {
  const auto bomb = ft::testing::with_claimed_size(small_jpeg(), 65000, 65000);
  REQUIRE(!bomb.empty());
  CHECK(bomb.size() < 2048);  // a file of about a kilobyte claims 12.7 GB of pixels

  // The header alone names the dimensions and the limit.
  const std::string e = decode_error(bomb, kDefaultMaxPixels);
  CHECK(e.find("bomb.jpg: ") == 0);
  CHECK(e.find("65000x65000") != std::string::npos);
  CHECK(e.find("4225000000 pixels") != std::string::npos);
  CHECK(e.find("89478485") != std::string::npos);
  CHECK(e.find("max_pixels") != std::string::npos);

  // Without the header check the decode would allocate 12.7 GB: under a 1 GiB address-space
  // headroom it is refused the same way, and the peak RSS does not move by more than noise.
  const std::size_t rss_before = ft::testing::peak_rss_bytes();
  {
    ft::testing::AddressSpaceLimit limit(std::size_t{1} << 30);
    CHECK(decode_error(bomb, kDefaultMaxPixels).find("over the limit") != std::string::npos);
  }
  CHECK(ft::testing::peak_rss_bytes() - rss_before < (std::size_t{64} << 20));
}

TEST_CASE("max_pixels is an inclusive limit on width x height") {
  const auto jpg = small_jpeg();  // 16x16 = 256 pixels
  CHECK(decode_error(jpg, 256).empty());
  const std::string e = decode_error(jpg, 255);
  CHECK(e.find("16x16 = 256 pixels, over the limit of 255") != std::string::npos);
}

TEST_CASE("running out of memory while decoding names the file (no bare bad_alloc)") {
  ft::testing::AddressSpaceLimit limit(std::size_t{1} << 30);
  if (!limit.active()) return;  // AddressSanitizer: no address-space limit to run into
  // A limit above the forged size lets the decoder try to allocate the 12.7 GB image.
  const auto bomb = ft::testing::with_claimed_size(small_jpeg(), 65000, 65000);
  std::string e;
  try {
    JpegInfo info;
    decode_jpeg(bomb.data(), bomb.size(), info, "big.jpg", 0, std::int64_t{1} << 40);
  } catch (const std::runtime_error& err) {
    e = err.what();
  } catch (const std::bad_alloc&) {
    e = "bare std::bad_alloc";
  }
  CHECK(e.find("big.jpg: ") == 0);
  CHECK(e.find("out of memory") != std::string::npos);
  CHECK(e.find("65000x65000") != std::string::npos);
}

TEST_CASE("only regular files are read as data: FIFO, directory and device are refused by name") {
  TempDir tmp;
  const fs::path fifo = tmp.path / "pipe.jpg";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // In a child with a deadline: opening a FIFO without a writer used to block forever.
  const int code = ft::testing::run_in_child(
      [&] {
        try {
          read_file_bytes(fifo.string());
        } catch (const std::runtime_error& e) {
          const std::string m = e.what();
          return m.find(fifo.string() + ": is a FIFO") == 0 ? 0 : 1;
        }
        return 2;
      },
      10);
  CHECK_MESSAGE(code == 0, "exit code " << code << " (142 = blocked until the 10 s alarm)");

  const auto error_of = [](const std::string& path) {
    try {
      std::vector<std::uint8_t> out;
      append_file_bytes(path, out);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_of(tmp.path.string()) == tmp.path.string() + ": is a directory, not a regular file");
  CHECK(error_of("/dev/null") == "/dev/null: is a character device, not a regular file");
  CHECK(error_of((tmp.path / "missing.jpg").string()).find("cannot open: No such file") !=
        std::string::npos);
}

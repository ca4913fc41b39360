// kernels/io/idx: the real Fashion-MNIST files (Debian's dataset-fashion-mnist) and hand-made
// broken ones (bad magic, wrong type, truncated body, trailing bytes).
#include "kernels/io/idx.hpp"

#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

using namespace ft::io;
namespace fs = std::filesystem;

namespace {

const fs::path kFmnist = "/usr/share/datasets/fashion-mnist";

fs::path write_gz(const fs::path& dir, const std::string& name,
                  const std::vector<std::uint8_t>& bytes) {
  const fs::path p = dir / name;
  gzFile f = gzopen(p.c_str(), "wb");
  REQUIRE(f);
  if (!bytes.empty())
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == int(bytes.size()));
  gzclose(f);
  return p;
}

}  // namespace

TEST_CASE("reads Fashion-MNIST IDX files") {
  const auto labels = read_idx_labels((kFmnist / "t10k-labels-idx1-ubyte.gz").string());
  REQUIRE(labels.dims == std::vector<std::size_t>{10000});
  // The first five test labels of Fashion-MNIST: ankle boot, pullover, trouser, trouser, shirt.
  CHECK(labels.data[0] == 9);
  CHECK(labels.data[1] == 2);
  CHECK(labels.data[2] == 1);
  CHECK(labels.data[3] == 1);
  CHECK(labels.data[4] == 6);
  const auto images = read_idx_images((kFmnist / "t10k-images-idx3-ubyte.gz").string());
  REQUIRE(images.dims == std::vector<std::size_t>{10000, 28, 28});
  CHECK(images.data.size() == 10000u * 28u * 28u);
  CHECK_THROWS_WITH(read_idx_images((kFmnist / "t10k-labels-idx1-ubyte.gz").string()),
                    doctest::Contains("expected an IDX images file"));
}

TEST_CASE("broken IDX files throw naming the path") {
  const fs::path dir = fs::temp_directory_path() / ("ft_io_idx_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto good = write_gz(dir, "good.gz", {0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9});
  CHECK(read_idx_labels(good.string()).data == std::vector<std::uint8_t>{7, 8, 9});

  const auto bad_magic = write_gz(dir, "magic.gz", {1, 2, 8, 1, 0, 0, 0, 1, 5});
  CHECK_THROWS_WITH(read_idx(bad_magic.string()), doctest::Contains("magic.gz: not an IDX file"));
  const auto bad_type = write_gz(dir, "type.gz", {0, 0, 0x0D, 1, 0, 0, 0, 1, 5, 5, 5, 5});
  CHECK_THROWS_WITH(read_idx(bad_type.string()),
                    doctest::Contains("unsupported IDX element type 13"));
  const auto truncated = write_gz(dir, "trunc.gz", {0, 0, 8, 1, 0, 0, 0, 5, 1, 2});
  CHECK_THROWS_WITH(read_idx(truncated.string()),
                    doctest::Contains("trunc.gz: truncated or corrupt"));
  const auto trailing = write_gz(dir, "trail.gz", {0, 0, 8, 1, 0, 0, 0, 1, 1, 2});
  CHECK_THROWS_WITH(read_idx(trailing.string()), doctest::Contains("trailing bytes"));
  const auto empty = write_gz(dir, "empty.gz", {});
  CHECK_THROWS_WITH(read_idx(empty.string()), doctest::Contains("empty.gz: truncated"));
  CHECK_THROWS_WITH(read_idx((dir / "none.gz").string()),
                    doctest::Contains("none.gz: cannot open"));
  fs::remove_all(dir);
}

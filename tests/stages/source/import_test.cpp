// stages/source/import_fashion_mnist on the real Debian files with a small limit: layout, CSV,
// pixels within JPEG error of the IDX source, skip when complete, replace on a new request, and
// refusal to overwrite a folder that is not an import.
#include <doctest/doctest.h>

#include <fstream>

#include "kernels/io/idx.hpp"
#include "kernels/io/jpeg.hpp"
#include "pipeline/error.hpp"
#include "stages/source/dataset.hpp"
#include "stages/source/import_fashion_mnist.hpp"
#include "temp_dir.hpp"

using namespace ft;
namespace fs = std::filesystem;

TEST_CASE("import fashion-mnist with a limit") {
  TempDir d("import");
  const fs::path out = d.path / "fmnist";
  const ImportSummary s = import_fashion_mnist(kFashionMnistIdxDir, out, 200);
  CHECK_FALSE(s.skipped);
  CHECK(s.train == 200);
  CHECK(s.test == 200);
  CHECK(fs::exists(out / "train" / "00199.jpg"));
  CHECK_FALSE(fs::exists(out / "train" / "00200.jpg"));
  CHECK(fs::exists(out / "test" / "00000.jpg"));
  for (const auto& e : fs::directory_iterator(d.path))
    CHECK(e.path() == out);  // no temp folder left

  const Dataset train = read_csv_dataset(out / "train", out / "train.csv", 10);
  REQUIRE(train.size() == 200);
  CHECK(train.samples[0].id == "00000.jpg");
  const auto labels =
      io::read_idx_labels(std::string(kFashionMnistIdxDir) + "/train-labels-idx1-ubyte.gz");
  const auto images =
      io::read_idx_images(std::string(kFashionMnistIdxDir) + "/train-images-idx3-ubyte.gz");
  for (std::size_t i = 0; i < 200; ++i) CHECK(train.samples[i].label == labels.data[i]);

  const auto bytes = io::read_file_bytes((out / "train" / "00007.jpg").string());
  io::JpegInfo info;
  const auto px = io::decode_jpeg(bytes.data(), bytes.size(), info, "00007.jpg");
  CHECK(info.channels == 1);
  CHECK(info.height == 28);
  CHECK(info.width == 28);
  double sum_abs = 0;
  for (std::size_t k = 0; k < 784; ++k)
    sum_abs += std::abs(int(px[k]) - int(images.data[7 * 784 + k]));
  // Quality 95 on 28x28 clothing with hard edges: mean error a couple of grey levels.
  CHECK(sum_abs / 784 < 4.0);

  const ImportSummary again = import_fashion_mnist(kFashionMnistIdxDir, out, 200);
  CHECK(again.skipped);
  const ImportSummary more = import_fashion_mnist(kFashionMnistIdxDir, out, 300);
  CHECK_FALSE(more.skipped);
  CHECK(fs::exists(out / "train" / "00299.jpg"));

  d.write("other/file.txt", "mine");
  CHECK_THROWS_WITH_AS(import_fashion_mnist(kFashionMnistIdxDir, d.path / "other", 10),
                       doctest::Contains("exists and is not a flowtrain import"), Error);
  CHECK(fs::exists(d.path / "other" / "file.txt"));
}

TEST_CASE("import fashion-mnist names a missing source file") {
  TempDir d("import_missing");
  CHECK_THROWS_WITH_AS(import_fashion_mnist(d.path, d.path / "out", 10),
                       doctest::Contains("train-labels-idx1-ubyte.gz: cannot open"), Error);
}

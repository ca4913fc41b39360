// stages/source/import_fashion_mnist on the real Debian files with a small limit: layout, CSV,
// pixels within JPEG error of the IDX source, skip when complete, replace on a new request,
// refusal to overwrite a folder that is not an import or to remove files an import did not
// write, and stale temp folders of killed imports removed.
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

TEST_CASE(
    "import removes only what an import wrote: the user's files stay, stale temp folders "
    "of killed imports go") {
  TempDir d("import_own");
  const fs::path out = d.path / "fm";
  import_fashion_mnist(kFashionMnistIdxDir, out, 10);

  // A file the user keeps in the import folder: replacing the import would delete it, so the
  // replacement is refused and nothing changes.
  d.write("fm/notes.txt", "mine");
  d.write("fm/train/extra.jpg", "also mine");
  CHECK_THROWS_WITH_AS(import_fashion_mnist(kFashionMnistIdxDir, out, 20),
                       doctest::Contains("files it did not write (notes.txt, train/extra.jpg)"),
                       Error);
  CHECK(fs::exists(out / "notes.txt"));
  CHECK(fs::exists(out / "train" / "extra.jpg"));
  CHECK(fs::exists(out / "train" / "00009.jpg"));
  CHECK_FALSE(fs::exists(out / "train" / "00010.jpg"));
  CHECK(fs::exists(out / "train.csv"));
  // The same request is still a no-op (nothing replaced, nothing removed).
  CHECK(import_fashion_mnist(kFashionMnistIdxDir, out, 10).skipped);
  CHECK(fs::exists(out / "notes.txt"));

  // Moved away, the import is replaced.
  fs::remove(out / "notes.txt");
  fs::remove(out / "train" / "extra.jpg");
  CHECK_FALSE(import_fashion_mnist(kFashionMnistIdxDir, out, 20).skipped);
  CHECK(fs::exists(out / "train" / "00019.jpg"));

  // Folders a killed import left: <out>.tmp-PID (half written) and <out>.old-PID (an earlier
  // import set aside) of a process that is gone are removed at the next import; an .old folder
  // keeps what the import did not write; a live process's temp folder is left alone.
  const std::string dead = "999999999";  // above any pid_max
  const std::string live = std::to_string(::getppid());
  d.write("fm.tmp-" + dead + "/train/00000.jpg", "half");
  d.write("fm.tmp-" + live + "/train/00000.jpg", "being written");
  d.write("fm.old-" + dead + "/train/00000.jpg", "old");
  d.write("fm.old-" + dead + "/train.csv", "Id,Label\n");
  d.write("fm.old-" + dead + "/test.csv", "Id,Label\n");
  d.write("fm.old-" + dead + "/.flowtrain-import",
          "fashion-mnist format=1 quality=95 limit=1 train=1 test=0\n");
  d.write("fm.old-" + dead + "/kept.txt", "the user's");
  import_fashion_mnist(kFashionMnistIdxDir, out, 30);
  CHECK_FALSE(fs::exists(d.path / ("fm.tmp-" + dead)));
  CHECK(fs::exists(d.path / ("fm.tmp-" + live) / "train" / "00000.jpg"));
  CHECK_FALSE(fs::exists(d.path / ("fm.old-" + dead) / "train"));
  CHECK(fs::exists(d.path / ("fm.old-" + dead) / "kept.txt"));
  CHECK(fs::exists(out / "train" / "00029.jpg"));
}

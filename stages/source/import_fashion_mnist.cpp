// Fashion-MNIST importer: IDX (gzip) -> JPEG files + CSV, written into a temp folder and renamed
// into place at the end. TBB parallelises the JPEG encoding and the file writes.
#include "stages/source/import_fashion_mnist.hpp"

#include <tbb/parallel_for.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "kernels/io/idx.hpp"
#include "kernels/io/jpeg.hpp"
#include "pipeline/error.hpp"

namespace fs = std::filesystem;

namespace ft {

namespace {

constexpr const char* kMarker = ".flowtrain-import";
constexpr int kQuality = 95;

std::string marker_text(std::size_t train, std::size_t test, std::size_t limit) {
  std::ostringstream s;
  s << "fashion-mnist format=1 quality=" << kQuality << " limit=" << limit << " train=" << train
    << " test=" << test << "\n";
  return s.str();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string file_name(std::size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05zu.jpg", i);
  return buf;
}

// Writes one split: n images into dir/<split>/, labels into dir/<split>.csv.
void write_split(const fs::path& dir, const std::string& split, const io::IdxArray& images,
                 const io::IdxArray& labels, std::size_t n) {
  const int rows = static_cast<int>(images.dims[1]), cols = static_cast<int>(images.dims[2]);
  const std::size_t stride = static_cast<std::size_t>(rows) * cols;
  const fs::path img_dir = dir / split;
  fs::create_directories(img_dir);
  tbb::parallel_for(
      tbb::blocked_range<std::size_t>(0, n, 256), [&](const tbb::blocked_range<std::size_t>& r) {
        for (std::size_t i = r.begin(); i != r.end(); ++i) {
          const auto jpg =
              io::encode_jpeg(images.data.data() + i * stride, rows, cols, 1, kQuality);
          try {
            io::write_file_bytes((img_dir / file_name(i)).string(), jpg.data(), jpg.size());
          } catch (const std::runtime_error& e) {
            throw Error(std::string("import fashion-mnist: ") + e.what());
          }
        }
      });
  const fs::path csv = dir / (split + ".csv");
  std::ofstream out(csv, std::ios::binary);
  out << "Id,Label\n";
  for (std::size_t i = 0; i < n; ++i) out << file_name(i) << ',' << int(labels.data[i]) << '\n';
  out.close();
  if (!out) throw Error("import fashion-mnist: writing '" + csv.string() + "' failed (disk full?)");
}

}  // namespace

ImportSummary import_fashion_mnist(const fs::path& idx_dir, const fs::path& out_dir,
                                   std::size_t limit) {
  const auto t0 = std::chrono::steady_clock::now();
  const auto read = [&](const char* name, bool images) {
    const std::string p = (idx_dir / name).string();
    try {
      return images ? io::read_idx_images(p) : io::read_idx_labels(p);
    } catch (const std::runtime_error& e) {
      throw Error(std::string("import fashion-mnist: ") + e.what() +
                      " (install the Debian package dataset-fashion-mnist)",
                  2);
    }
  };
  // Labels first: cheap, and they give the counts that decide whether work can be skipped.
  const io::IdxArray train_labels = read("train-labels-idx1-ubyte.gz", false);
  const io::IdxArray test_labels = read("t10k-labels-idx1-ubyte.gz", false);
  const auto count = [&](std::size_t n) { return limit > 0 ? std::min(limit, n) : n; };
  ImportSummary sum;
  sum.train = count(train_labels.dims[0]);
  sum.test = count(test_labels.dims[0]);
  const std::string marker = marker_text(sum.train, sum.test, limit);

  std::error_code ec;
  if (fs::exists(out_dir, ec)) {
    if (fs::exists(out_dir / kMarker) && read_text(out_dir / kMarker) == marker) {
      sum.skipped = true;
      return sum;
    }
    if (!fs::exists(out_dir / kMarker))
      throw Error("import fashion-mnist: '" + out_dir.string() +
                      "' exists and is not a flowtrain import; remove it or choose another --out",
                  2);
  }

  const io::IdxArray train_images = read("train-images-idx3-ubyte.gz", true);
  const io::IdxArray test_images = read("t10k-images-idx3-ubyte.gz", true);
  if (train_images.dims[0] != train_labels.dims[0] || test_images.dims[0] != test_labels.dims[0])
    throw Error("import fashion-mnist: image and label counts differ in '" + idx_dir.string() + "'",
                2);

  fs::path parent = out_dir.parent_path();
  if (parent.empty()) parent = ".";
  fs::create_directories(parent);
  const fs::path tmp =
      parent / (out_dir.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    write_split(tmp, "train", train_images, train_labels, sum.train);
    write_split(tmp, "test", test_images, test_labels, sum.test);
    std::ofstream(tmp / kMarker) << marker;
    if (fs::exists(out_dir)) {
      // Replace an older import (it carries our marker): move it aside first so that out_dir is
      // never a mixture of the two.
      const fs::path old =
          parent / (out_dir.filename().string() + ".old-" + std::to_string(::getpid()));
      fs::rename(out_dir, old);
      fs::rename(tmp, out_dir);
      fs::remove_all(old);
    } else {
      fs::rename(tmp, out_dir);
    }
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw Error(std::string("import fashion-mnist: ") + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace ft

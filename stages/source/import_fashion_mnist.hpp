// `flowtrain import fashion-mnist`: turns the IDX files of Debian's dataset-fashion-mnist package
// into the CSV layout the readers take: out/train/NNNNN.jpg, out/test/NNNNN.jpg (grayscale JPEG,
// quality 95), out/train.csv and out/test.csv (`Id,Label`, Id = file name).
#pragma once

#include <cstddef>
#include <filesystem>

namespace ft {

inline const char* kFashionMnistIdxDir = "/usr/share/datasets/fashion-mnist";

struct ImportSummary {
  std::size_t train = 0, test = 0;  // images per split in out_dir
  bool skipped = false;             // a complete import with the same counts was already there
  double seconds = 0.0;
};

// Atomic: everything is written into a sibling temp folder that is renamed onto out_dir at the end,
// so an interrupted import leaves no half dataset. A completed import carries a marker file
// (.flowtrain-import) with its counts; when out_dir already holds one for the same request the call
// returns at once (skipped = true). An out_dir that exists without the marker is never touched
// (error); one with a marker for another request (a different limit) is replaced.
// limit > 0 keeps only the first `limit` images of each split (for tests). JPEG encoding runs in
// parallel on TBB. Errors throw ft::Error naming the file.
ImportSummary import_fashion_mnist(const std::filesystem::path& idx_dir,
                                   const std::filesystem::path& out_dir, std::size_t limit = 0);

}  // namespace ft

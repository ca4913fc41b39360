// Datasets: the list of samples of one split (id, file path, label) and the readers that build it
// from a CSV layout, an ImageFolder tree or an unlabeled folder, plus the `[data]` config table.
// Relative paths resolve against the current working directory of the process (not the config
// file's folder), as the README's commands run from the repository root.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/registry.hpp"

namespace ft {

struct Sample {
  std::string id;              // CSV Id, or the file name (ImageFolder: "class/name.jpg")
  std::filesystem::path path;  // file to read (a shard: the .tar file)
  int label = -1;              // -1 when unlabeled
  // A sample inside a shard (stages/source/shards.hpp): its bytes are [offset, offset + size) of
  // the shard file `shard` of the dataset, named `member` there; shard -1 reads the whole file.
  int shard = -1;
  std::uint64_t offset = 0, size = 0;
  std::string member;
  bool has_checksum = false;
  std::uint64_t xxh3 = 0;  // XXH3-64 of the bytes, from the shard manifest
};

struct ShardFiles;  // the open shard files of a dataset (stages/source/shards.hpp)

struct Dataset {
  std::vector<Sample> samples;
  int num_classes = 0;                   // 0 when unlabeled
  std::vector<std::string> class_names;  // ImageFolder: folder names; CSV: "0".."K-1"
  std::string origin;                    // where it came from, for messages
  std::shared_ptr<ShardFiles> shards;    // set for format = "shards"

  std::size_t size() const { return samples.size(); }
};

// CSV layout: `labels` has the header `Id,Label`; Id is a file name inside `images` (an Id
// without extension also matches "<Id>.jpg"), Label an integer in [0, num_classes).
// num_classes 0: inferred as max label + 1. Errors (ft::Error, exit code 2) name file and line:
// missing header, malformed row, non-integer or out-of-range label, duplicate Id, missing file.
Dataset read_csv_dataset(const std::filesystem::path& images, const std::filesystem::path& labels,
                         int num_classes = 0);

// torchvision ImageFolder: one subfolder per class, classes sorted by name (as Python's sorted()
// on str), class index = position; files found recursively under each class folder, ordered as
// torchvision orders them (by folder path, then file name). Only .jpg/.jpeg (any case) count.
// num_classes > 0 must equal the number of class folders.
Dataset read_image_folder(const std::filesystem::path& root, int num_classes = 0);

// Every .jpg/.jpeg (any case) directly inside dir, sorted by name, label -1 (for prediction).
Dataset read_unlabeled_folder(const std::filesystem::path& dir);

// Deterministic holdout: round(fraction * n) samples (at least 1, at most n - 1) chosen by a
// Philox-driven shuffle keyed by seed move to the second dataset; both keep their original order.
struct HoldoutSplit {
  Dataset train, val;
};
HoldoutSplit holdout_split(const Dataset& all, double fraction, std::uint64_t seed);

// One split's description in `[data]`.
struct SplitSpec {
  std::string format;  // "csv" | "imagefolder" | "folder" | "shards" | "" (holdout)
  std::filesystem::path images, labels;
  std::filesystem::path path;  // shards: the folder of .tar shards
  std::string from;            // holdout source split ("train")
  double fraction = 0.0;
};

struct DataSplits {
  std::optional<Dataset> train, val, test;
};

// Loads the splits named in `[data]` (train, val, test; each optional). num_classes comes from
// `[model] num_classes` (0 = infer). Config errors throw ft::ConfigError naming
// config_file:line:col and the key; data errors throw ft::Error naming the data file and line.
DataSplits load_data_splits(const toml::table& data, const std::string& config_file,
                            int num_classes, std::uint64_t seed);

// The [data] table's schema: train, val and test, each a table of format, images, labels (or,
// for val, from and fraction); its check applies every rule load_data_splits does short of
// reading files (from only on val and only from train, labels only with csv, ...).
SectionSchema data_section();

// The plain-value form behind load_data_splits.
Dataset load_split(const SplitSpec& spec, int num_classes);

}  // namespace ft

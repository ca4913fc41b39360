// `flowtrain synth`: a learnable synthetic dataset in the BHW1 layout, for smoke tests and trying
// configs without the real data. Each class has its own colour and stripe orientation/frequency;
// every image adds a random phase, brightness jitter and pixel noise, so a small network beats
// chance within an epoch or two but not at once. Deterministic from the seed: image i depends only
// on (seed, split, i), whatever the thread count.
#pragma once

#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace ft {

struct SynthOptions {
  std::filesystem::path out;
  int classes = 10;
  std::size_t train = 0;  // 0: 20 per class
  std::size_t test = 0;   // 0: 5 per class
  std::uint64_t seed = 0;
  int size = 64;  // images are size x size RGB
};

struct SynthSummary {
  std::size_t train = 0, test = 0;
  bool skipped = false;  // the same dataset was already there
};

// Writes out/trainval/trainval_NNNNN.jpg, out/labels.csv (Id,Label), out/test/test_NNNNN.jpg and
// out/test_labels.csv (the test split's labels, which the real BHW1 keeps secret; a config can
// read them as a labelled test split). Atomic: written into <out>.tmp-PID, then renamed. An out
// folder holding the same request (marker .flowtrain-synth) is left as it is (skipped); any other
// existing out is refused (Error, exit 2). Label of image i: i % classes.
SynthSummary write_synth_dataset(const SynthOptions& opt);

void add_synth(CLI::App& app);

}  // namespace ft

// What the metrics stage measured, shared through the RunContext (StageShared::results) so the CLI
// can print the run's summary (and ablate can compare runs) without re-reading files.
#pragma once

#include <string>
#include <vector>

#include "pipeline/batch.hpp"

namespace ft {

struct PassResult {
  Split split = Split::train;
  int epoch = 0;
  std::size_t samples = 0, labelled = 0;
  double loss = 0, top1 = 0, top5 = 0, images_per_s = 0, seconds = 0;
};

struct RunResults {
  std::vector<PassResult> passes;
  // The last pass of a split, or nullptr.
  const PassResult* last(Split s) const {
    for (auto it = passes.rbegin(); it != passes.rend(); ++it)
      if (it->split == s) return &*it;
    return nullptr;
  }
};

}  // namespace ft

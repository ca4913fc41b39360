// The host memory a run will need, estimated at setup from the config and the first sample of
// each split, and compared with what the machine (and its cgroup) has available, so that a config
// that cannot fit is refused with the estimate and the limit instead of dying mid-run (or being
// killed by the kernel). The estimate counts what a run surely holds; it is rough, not an upper
// bound: batches in flight, the model's parameters, gradients and momentum, and the activations a
// training step keeps for its backward pass.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "kernels/nn/model.hpp"
#include "pipeline/graph.hpp"
#include "pipeline/stage.hpp"

namespace ft {

struct MemoryEstimate {
  double batch_bytes = 0;  // one batch, summed over the columns every stage writes
  int tokens = 0;          // batches in flight at once
  std::int64_t batch_size = 0;
  std::string sample_shape;  // "3x224x224 f32" of the largest model input, or "" when unknown
  double parameters = 0;     // model parameter count
  double model_bytes = 0;    // parameters + gradients (+ momentum), f32
  double activation_bytes = 0;
  bool model_on_device = false;  // device = "cuda": model and activations are GPU memory

  // Host bytes: batches in flight, plus the model and its activations on the CPU.
  double host_bytes() const;
  // "about 14.2 GiB: 18 batches in flight x 1.2 GiB (...), model ... , activations ..."
  std::string describe() const;
};

struct MemoryLimit {
  double bytes = 0;
  std::string source;  // "MemAvailable in /proc/meminfo", "cgroup memory.max", ...
};

// Parameter count and per-sample training activations (f32 elements) of the model `spec` builds,
// walking the same architecture as kernels/nn/model_zoo without allocating it. Throws
// std::invalid_argument for an unknown kind.
struct ModelFootprint {
  double parameters = 0;
  double activations = 0;  // per sample: outputs of every layer a training step keeps
};
ModelFootprint model_footprint(const nn::ModelSpec& spec);

// The estimate for a resolved graph whose stages are set up (read_files published the datasets).
MemoryEstimate estimate_run_memory(const ResolvedGraph& graph, const RunContext& ctx, int tokens);

// The memory available to this process now: the smaller of MemAvailable and the cgroup's limit
// minus its usage (v2 memory.max or v1 memory.limit_in_bytes); nullopt when neither is readable.
std::optional<MemoryLimit> available_memory();

// Estimates and refuses with an ft::Error giving the estimate and the limit when the run cannot
// fit. Called once at setup (cli/run.cpp), after the stages' setup and before the first batch.
void check_run_memory(const ResolvedGraph& graph, const RunContext& ctx, int tokens);

}  // namespace ft

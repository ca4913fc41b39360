// Data-parallel gradient reduction, as PyTorch DDP's reducer does it: the parameters' gradients
// are grouped into buckets of about `bucket_mb` in reverse parameter order (the order backward
// finishes them); a bucket's all-reduce starts as soon as the backward pass has finished every
// gradient in it, so communication overlaps the rest of the backward pass; after the backward,
// finish() waits for what is still in flight and scales the sums (by 1 / (processes x
// accumulation steps): the mean over the global batch).
//
// CPU gradients are copied into a contiguous bucket buffer for one MPI all-reduce and copied back;
// GPU gradients are reduced in place by NCCL, one call per parameter within a bucket.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/dist/comm.hpp"
#include "kernels/nn/module.hpp"
#include "kernels/nn/parameter.hpp"
#include "pipeline/registry.hpp"
#include "stages/stage_shared.hpp"

namespace ft {

// The [distributed] table: how a data-parallel run communicates.
struct DistributedConfig {
  double bucket_mb = 25;
  double timeout_s = 300;
  bool sync_batchnorm = false;
};
SectionSchema distributed_section();
DistributedConfig read_distributed(const toml::table* config);

// The layers a run's model is built from when [distributed] sync_batchnorm holds and `comm` has
// more than one process: `base` with every batch norm synchronised over `comm`. Null otherwise
// (use `base`: one process changes nothing, as PyTorch's SyncBatchNorm without a process group).
std::unique_ptr<nn::LayerFactory> distributed_layers(const DistributedConfig& config,
                                                     const std::shared_ptr<dist::Comm>& comm,
                                                     const nn::LayerFactory& base);

class GradSync {
 public:
  GradSync(dist::Comm& comm, std::vector<nn::Parameter*> params, double bucket_mb, bool device);

  // Before the backward that completes a step (the last of its accumulation micro-batches).
  void arm();
  // The model's GradsReady hook: parameters [first, last) are final. Starts every bucket that is
  // now complete and lets the ones in flight progress.
  void grads_ready(std::size_t first, std::size_t last);
  // After that backward: starts what is left, waits for every bucket, writes sum * scale into the
  // gradients. Also the path for a backward without the hook (everything is started here).
  void finish(float scale);

  // Cumulative communication accounting over the steps so far.
  const CommStats& stats() const { return stats_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Bucket {
    std::vector<std::size_t> params;  // indices into params_
    std::size_t floats = 0;
    std::size_t pending = 0;  // gradients not yet final this step
    bool done = false;
    std::vector<float> buffer;  // CPU: the gradients, contiguous
    std::vector<std::unique_ptr<dist::Request>> requests;
  };
  void start_next();  // the all-reduce of buckets_[next_to_start_]
  void progress();

  dist::Comm& comm_;
  std::vector<nn::Parameter*> params_;
  bool device_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;  // parameter index -> bucket
  std::vector<char> final_;             // parameter index -> final this step
  std::size_t next_to_start_ = 0;       // buckets start in order, as DDP's do
  bool armed_ = false;
  Clock::time_point first_start_;
  CommStats stats_;
};

}  // namespace ft

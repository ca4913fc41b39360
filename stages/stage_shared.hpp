// What stages share through the RunContext, one typed member per role: the datasets read_files
// loaded, the training state (model, optimizer, schedule), the metrics' results, and the
// checkpoint --resume names. pipeline/ declares only the name StageShared, so it includes nothing
// from stages/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "pipeline/stage.hpp"

namespace ft {

namespace dist {
class Comm;
}
struct DataSplits;
class TrainState;
struct RunResults;
struct ResumeSource;

// Data-parallel communication over a run's train steps (train_step's gradient all-reduce).
struct CommStats {
  std::int64_t steps = 0;
  double comm_s = 0;     // per step: first bucket started .. last bucket done, summed
  double exposed_s = 0;  // the part of comm_s after the backward pass ended (not overlapped)
  std::size_t bytes_per_step = 0, buckets = 0;
  double per_step_s() const { return steps ? comm_s / static_cast<double>(steps) : 0.0; }
  // The share of communication time hidden behind the backward pass.
  double overlapped_share() const { return comm_s > 0 ? 1.0 - exposed_s / comm_s : 0.0; }
};

struct StageShared {
  std::shared_ptr<DataSplits> datasets;  // read_files: every split's samples (predict's ids)
  std::shared_ptr<TrainState> train;     // train_step, eval_step, predict, checkpoint, metrics
  std::shared_ptr<RunResults> results;   // metrics: what the command prints and writes
  std::shared_ptr<ResumeSource> resume;  // --resume's checkpoint, loaded and checked by the command
  // The run's processes (data-parallel training); null: this process is the whole run.
  std::shared_ptr<dist::Comm> comm;
  CommStats comm_stats;  // train_step: how the gradient all-reduce went
};

// Rank and process count of the run (0 and 1 without a communicator).
int run_rank(const RunContext& ctx);
int run_world(const RunContext& ctx);

// The run's StageShared, created on first use.
StageShared& stage_shared(RunContext& ctx);
// Null when nothing has been shared yet.
const StageShared* find_stage_shared(const RunContext& ctx);

}  // namespace ft

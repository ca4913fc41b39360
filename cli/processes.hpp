// A run's processes (data-parallel training): which one this is and how it reaches the others.
// Every process loads and validates the same config; then join_processes() detects the launcher
// (mpirun, srun, torchrun), makes the communicator, picks this process's GPU (its local rank)
// and, on every process but rank 0, points the run folder at a private scratch folder and
// silences progress: rank 0 alone writes the run folder, metrics, checkpoints and predictions.
#pragma once

#include <memory>
#include <string>

#include "pipeline/stage.hpp"

namespace ft {

// Joins the run's processes; `holder` keeps a non-zero rank's scratch folder alive (removed when
// it is destroyed). A single process gets the no-op communicator and keeps everything as is.
void join_processes(RunContext& ctx, const toml::table& config, bool create_run_dir,
                    std::shared_ptr<void>& holder);

// True on the process that writes the run's outputs and prints its summary.
bool writes_outputs(const RunContext& ctx);

// False on the processes of a data-parallel run other than rank 0 (they say nothing when the
// run stops early: rank 0 prints how to continue).
bool speaks_for_run();

// When this process is one of several: reports `what` as this rank's failure and ends every
// process of the job with `code` (never returns). Otherwise returns and the caller exits alone.
void fail_all_processes(int code, const std::string& what);

}  // namespace ft

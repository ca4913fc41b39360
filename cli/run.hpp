// Running a config: load + validate, make the run folder, build the pipeline, run the passes.
// Shared by `flowtrain run`, `profile`, `ablate` and `preview`. Nothing is written before the
// config, the run folder's state and a resumed checkpoint have been checked; config.toml is
// written once the pipeline has set up.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/run_folder.hpp"
#include "pipeline/graph.hpp"
#include "pipeline/runtime.hpp"
#include "stages/metrics/metrics.hpp"

namespace ft {

struct RunOptions {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string resume;  // checkpoint to resume from
  bool dry_run = false;
  bool quiet = false;
  bool overwrite = false;       // replace flowtrain's files of a run already in the folder
  bool accept_changes = false;  // resume although the config differs from the checkpoint's
  std::optional<int> threads;   // overrides [run] threads
};

struct RunSummary {
  std::string run_dir;
  std::string device;                   // where the model ran: cpu or cuda
  std::shared_ptr<RunResults> results;  // what the metrics stage measured (null without one)
  double wall_s = 0;
  std::size_t samples = 0;
  ProfileReport profile;
  bool nothing_to_do = false;
  bool writer = true;  // this process prints the summary (rank 0 of a data-parallel run)  //
                       // --resume of a finished run: said so, changed nothing
};

// Everything validation checks: the graph (resolve_graph), the run folder's and the predict
// stage's names, [optimizer] and [schedule] values. Throws ConfigError with file:line:col.
ResolvedGraph validate_config(const Config& config);

// Loads, validates and prepares the context. With create_run_dir (and not a dry run): a resumed
// checkpoint is loaded and checked against the config (check_resume), then the run folder is
// created, locked and checked (RunFolder), unless the resumed run had already finished
// (resume_finished; nothing touched).
struct PreparedRun {
  Config config;
  ResolvedGraph graph;
  RunContext ctx;
  RunFolder folder;
  int in_flight = 0;
  int omp_threads = 0;
  std::shared_ptr<void> scratch;  // a non-zero rank's private run folder (join_processes)
  std::int64_t time_limit_s = 0;  // [run] time_limit in seconds (0: none)
  bool resume_finished = false;
  std::int64_t resume_epoch = 0;  // epochs the resumed checkpoint completed
};
PreparedRun prepare_run(const RunOptions& opt, bool create_run_dir = true);

RunSummary execute_run(const RunOptions& opt);

// `flowtrain profile`: runs up to `batches` train batches, writes the trace, returns the report.
// The stages write into a throwaway folder (a profile is not a run); only the trace goes to
// <run folder>/profile.json by default.
std::string profile_run(const RunOptions& opt, std::size_t batches, const std::string& trace_path);

}  // namespace ft

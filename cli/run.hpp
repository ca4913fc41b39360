// Running a config: load + validate, make the run folder, build the pipeline, run the passes.
// Shared by `flowtrain run`, `profile`, `ablate` and `preview`.
#pragma once

#include <optional>
#include <string>
#include <vector>

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
  std::optional<int> threads;  // overrides [run] threads
};

struct RunSummary {
  std::string run_dir;
  std::string device;                   // where the model ran: cpu or cuda
  std::shared_ptr<RunResults> results;  // what the metrics stage measured (null without one)
  double wall_s = 0;
  std::size_t samples = 0;
  ProfileReport profile;
};

// Loads, validates and prepares the context (run folder created, resolved config written).
struct PreparedRun {
  Config config;
  ResolvedGraph graph;
  RunContext ctx;
  int in_flight = 0;
  int omp_threads = 0;
};
PreparedRun prepare_run(const RunOptions& opt, bool create_run_dir = true);

RunSummary execute_run(const RunOptions& opt);

// `flowtrain profile`: runs up to `batches` train batches, writes the trace, returns the report.
std::string profile_run(const RunOptions& opt, std::size_t batches, const std::string& trace_path);

}  // namespace ft

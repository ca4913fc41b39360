// `flowtrain report RUN_DIR...`: the runs side by side, as the seed's report compared its runs: a
// Markdown table (run, model, schedule, train augmentations, epochs, best val top-1, test top-1
// when the test split is labelled, wall time, train images/s), read from each run folder's
// config.toml, metrics.csv and summary.json, and one chart overlaying their curves
// (tools/plot_runs.py, as `ablate` draws its comparison).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ft {

// The Markdown table of `run_dirs`. Throws Error (exit 2) naming a folder that holds no run
// (neither metrics.csv nor summary.json).
std::string report_table(const std::vector<std::string>& run_dirs);

void add_report(CLI::App& app);

}  // namespace ft

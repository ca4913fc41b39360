// Charts of runs, drawn by tools/plot_runs.py: several runs overlaid (ablate) or one run's curves
// (the end of `flowtrain run`).
#pragma once

#include <string>
#include <vector>

namespace ft {

// Runs tools/plot_runs.py on `run_dirs`, writing `out_png`. Best effort: returns false after one
// warning line on stderr when python, matplotlib or the script is missing or it fails.
bool plot_runs(const std::vector<std::string>& run_dirs, const std::string& out_png);

// <run_dir>/curves.png from the run's metrics.csv (best effort, never throws).
void draw_curves(const std::string& run_dir);

}  // namespace ft

// What the fuzz targets run on one input, shared with the regression tests made from their
// findings (findings_test.cpp), so a regression test exercises exactly the path that failed.
#pragma once

#include <string>
#include <vector>

namespace ft::fuzz {

// What a run (as `--dry-run`) and `flowtrain schedule` read from the config file at `path` with
// `--set` assignments `sets` before any data is loaded: load + overrides + validation + the run
// context, the [model]/[optimizer]/[schedule] state and the schedule over the run. Returns the
// resolved config a run writes into its folder. Throws ft::Error for an invalid config.
std::string load_config_as_run_would(const std::string& path, const std::vector<std::string>& sets);

}  // namespace ft::fuzz

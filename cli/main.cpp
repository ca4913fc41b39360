// flowtrain's command line. Only main() catches: ft::Error exits with its code (2 for config
// and usage errors), a run stopped early by a signal or its time limit with 75 (ft::RunStopped,
// after saving where it was), anything else with 1, always with one clear line on stderr.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.hpp"
#include "cli/processes.hpp"
#include "pipeline/error.hpp"
#include "pipeline/stop.hpp"

int main(int argc, char** argv) {
  CLI::App app{"flowtrain: train image classifiers with a stage graph you can see into"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "flowtrain 0.1.0");
  ft::add_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const ft::RunStopped& e) {
    // Not an error: the run saved where it stopped (pipeline/stop.hpp).
    if (ft::speaks_for_run()) std::cerr << "flowtrain: " << e.what() << "\n";
    return ft::kExitStopped;
  } catch (const ft::Error& e) {
    ft::fail_all_processes(e.exit_code(), e.what());  // returns when this is the only process
    std::cerr << "flowtrain: error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    ft::fail_all_processes(1, e.what());
    std::cerr << "flowtrain: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// The charts flowtrain draws through tools/plot_runs.py (see plots.hpp): found from the source
// tree, run as a child process; best effort, a missing Python or matplotlib is one warning line.
#include "cli/plots.hpp"

#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <iostream>

extern char** environ;

namespace ft {

namespace fs = std::filesystem;

namespace {

// tools/plot_runs.py: $FT_SOURCE_ROOT/tools, then upwards from the executable (build folders sit
// in the source tree), then the working directory.
std::string find_plot_script() {
  std::vector<fs::path> candidates;
  if (const char* root = std::getenv("FT_SOURCE_ROOT"))
    candidates.push_back(fs::path(root) / "tools/plot_runs.py");
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path d = exe.parent_path(); !d.empty() && d != d.root_path(); d = d.parent_path())
      candidates.push_back(d / "tools/plot_runs.py");
  candidates.push_back(fs::current_path(ec) / "tools/plot_runs.py");
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec)) return c.string();
  return "";
}

// Runs argv, inheriting stdout/stderr; returns the exit status (-1 when it could not start).
int spawn_and_wait(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

bool plot_runs(const std::vector<std::string>& run_dirs, const std::string& out_png) {
  const std::string script = find_plot_script();
  const std::string python = "/usr/bin/python3";
  if (script.empty() || access(python.c_str(), X_OK) != 0) {
    std::cerr << fmt::format(
        "flowtrain: warning: no chart ({}); {} not drawn\n",
        script.empty() ? "tools/plot_runs.py not found; set FT_SOURCE_ROOT to the source tree"
                       : python + " is missing",
        out_png);
    return false;
  }
  std::vector<std::string> args{python, script, "--out", out_png};
  args.insert(args.end(), run_dirs.begin(), run_dirs.end());
  std::cout << std::flush;
  const int rc = spawn_and_wait(args);
  if (rc == 3) return false;  // the script said in one line that matplotlib is missing
  if (rc != 0) {
    std::cerr << fmt::format("flowtrain: warning: {} failed (exit {}); {} not drawn\n", script, rc,
                             out_png);
    return false;
  }
  return true;
}

void draw_curves(const std::string& run_dir) {
  try {
    plot_runs({run_dir}, (fs::path(run_dir) / "curves.png").string());
  } catch (const std::exception& e) {
    std::cerr << "flowtrain: warning: no curves.png: " << e.what() << "\n";
  }
}

}  // namespace ft

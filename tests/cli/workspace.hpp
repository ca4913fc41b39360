// A scratch folder for end-to-end tests of the flowtrain binary ($FLOWTRAIN): a small Fashion-MNIST
// subset imported once, and flowtrain run there as a subprocess with its output captured to files
// (not a terminal). `timeout_s` bounds a run whose failure mode is blocking (exit code 124).
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace ft::testing {

inline std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  REQUIRE_MESSAGE(v != nullptr, name << " is not set (run through meson test)");
  return v;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CliResult {
  int code = -1;
  std::string out, err;
};

class CliWorkspace {
 public:
  // tag names the scratch folder; `limit` images are imported per split.
  CliWorkspace(const std::string& tag, int limit) {
    bin = env_or_fail("FLOWTRAIN");
    source = env_or_fail("FT_SOURCE_ROOT");
    dir = std::filesystem::temp_directory_path() /
          ("flowtrain-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const CliResult r = run("import fashion-mnist --limit " + std::to_string(limit) +
                            " --out data/fashion-mnist-tiny");
    REQUIRE_MESSAGE(r.code == 0, "import failed: " << r.err);
  }
  ~CliWorkspace() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  CliWorkspace(const CliWorkspace&) = delete;
  CliWorkspace& operator=(const CliWorkspace&) = delete;

  // flowtrain ARGS in the scratch folder.
  CliResult run(const std::string& args, int timeout_s = 300) const {
    const std::string cmd = "cd " + quote(dir.string()) + " && timeout " +
                            std::to_string(timeout_s) + " " + quote(bin) + " " + args + " >" +
                            quote((dir / "stdout.txt").string()) + " 2>" +
                            quote((dir / "stderr.txt").string()) + " </dev/null";
    const int status = std::system(cmd.c_str());
    CliResult r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_text(dir / "stdout.txt");
    r.err = read_text(dir / "stderr.txt");
    return r;
  }
  // A config of the source tree, quoted for the command line.
  std::string config(const std::string& rel = "configs/tiny.toml") const {
    return quote((std::filesystem::path(source) / rel).string());
  }

  std::filesystem::path dir;
  std::string bin, source;
};

}  // namespace ft::testing

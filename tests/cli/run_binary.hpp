// Runs the built flowtrain binary ($FLOWTRAIN, set by meson test) in a scratch folder with stdout
// and stderr captured to files, as tests/cli/cli_test.cpp does; small file helpers beside it.
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

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// Single-quoted for sh.
inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Result {
  int code = -1;  // exit status; -1 when killed by a signal
  std::string out, err;
};

// A scratch folder (removed at destruction) where `flowtrain ARGS` runs.
struct BinaryWorkspace {
  std::filesystem::path dir;
  std::string bin;
  explicit BinaryWorkspace(const std::string& tag) {
    bin = env_or_fail("FLOWTRAIN");
    dir = std::filesystem::temp_directory_path() /
          ("flowtrain-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~BinaryWorkspace() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  Result run(const std::string& args) const {
    const std::string cmd = "cd " + quote(dir.string()) + " && " + quote(bin) + " " + args + " >" +
                            quote((dir / "stdout.txt").string()) + " 2>" +
                            quote((dir / "stderr.txt").string()) + " </dev/null";
    const int status = std::system(cmd.c_str());
    Result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_text(dir / "stdout.txt");
    r.err = read_text(dir / "stderr.txt");
    return r;
  }
};

}  // namespace ft::testing

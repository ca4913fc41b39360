// Regression tests made from what the fuzz drivers found (tests/fuzz/*_fuzz_test.cpp), each with
// its minimized input as a string literal and the path it failed on (targets.hpp). A test marked
// "open" documents a finding whose fix belongs to a file outside tests/fuzz: it is decorated
// may_fail until that fix lands (then the decorator goes).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "pipeline/error.hpp"
#include "tests/fuzz/targets.hpp"
#include "tests/hostile.hpp"

using namespace ft;
namespace fs = std::filesystem;

namespace {

// The config text in a temp file, removed with the object.
class TempConfig {
 public:
  explicit TempConfig(const std::string& text)
      : path_((fs::temp_directory_path() / ("ft_finding_" + std::to_string(::getpid()) + ".toml"))
                  .string()) {
    std::ofstream(path_) << text;
  }
  ~TempConfig() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Exit status of loading `text` as a run would, in a child with a deadline: 0 when it loads or is
// refused with ft::Error, 98 for any other exception, 128 + 14 when it ran past the deadline.
int load_in_child(const std::string& text, unsigned deadline_s = 5) {
  const TempConfig cfg(text);
  return testing::run_in_child(
      [&] {
        try {
          fuzz::load_config_as_run_would(cfg.path(), {});
        } catch (const Error&) {
        }
        return 0;
      },
      deadline_s);
}

}  // namespace

// Found by the config fuzz target: `t_i *= p.t_mult` in Schedule::main_lr overflowed int64 for a
// large T_mult (undefined behaviour), T_i went negative and the restart loop never ended;
// validation evaluates the schedule, so `flowtrain run` and `schedule` hung (fixed in 148e785).
TEST_CASE(
    "finding: cosine_restarts with T_mult = 2^63 - 1 is refused or evaluated, it does not hang") {
  const int status = load_in_child(
      "[run]\nepochs = 300\n[schedule]\nkind = \"cosine_restarts\"\nper = \"epoch\"\nT_0 = 30\n"
      "T_mult = 0x7fffffffffffffff\n[[stage]]\nid = \"read\"\nkind = \"read_files\"\n");
  CHECK_MESSAGE(status == 0, "exit status " << status << " (142: ran past the deadline)");
}

// Regression tests made from what the fuzz drivers found (tests/fuzz/*_fuzz_test.cpp), each with
// its minimized input as a string literal and the path it failed on (targets.hpp). A test marked
// "open" documents a finding whose fix belongs to a file outside tests/fuzz: it is decorated
// may_fail until that fix lands (then the decorator goes).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
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

// Loads `text` as a run would (targets.hpp), in a child with a deadline (a hang, or a sanitizer
// report ending the process, fails only this check). Exit status: 0 when it loads, or is refused
// with an ft::Error whose message contains `refused_naming` when that is given; 1 when it loads
// although it should be refused; 2 when the message lacks `refused_naming`; 98 for an exception
// that is not an ft::Error; 128 + the signal that ended it (142: past the deadline).
int load_in_child(const std::string& text, const std::string& refused_naming = "",
                  unsigned deadline_s = 5) {
  const TempConfig cfg(text);
  return testing::run_in_child(
      [&] {
        try {
          fuzz::load_config_as_run_would(cfg.path(), {});
        } catch (const Error& e) {
          if (std::string(e.what()).find(refused_naming) != std::string::npos) return 0;
          std::fprintf(stderr, "refused with: %s\n", e.what());
          return 2;
        }
        return refused_naming.empty() ? 0 : 1;
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

// Found by the config fuzz target under tools/sanitize.sh's build: validation took any
// warmup_epochs >= 0, and the schedule converted warmup_epochs x steps per epoch to int64 with
// static_cast, undefined from 2^63 on (UBSan float-cast-overflow; on x86 a warmup of INT64_MIN
// steps). Fixed by the key's upper bound (1e6, as [run] epochs) in
// stages/train/schedule_schema.cpp.
TEST_CASE("finding: [schedule] warmup_epochs = 1e19 is refused naming the key") {
  const int status = load_in_child(
      "[schedule]\nper = \"epoch\"\nwarmup_epochs = 1e19\n[[stage]]\nid = \"read\"\n"
      "kind = \"read_files\"\n",
      "warmup_epochs");
  CHECK_MESSAGE(status == 0,
                "exit status " << status << " (1: accepted; 134: a sanitizer report above)");
}

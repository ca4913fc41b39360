// Stopping a run and resuming it (pipeline/stop.hpp, cli/run.cpp), through the flowtrain binary
// on a 64-image Fashion-MNIST subset in batches of 8: [run] time_limit, SIGTERM, SIGINT (twice
// and three times) and kill -9 between checkpoints, each followed by --resume, give the
// uninterrupted run's weights bit for bit and its metrics.csv rows; the exit status 75 and the
// command that continues; bad time limits are config errors.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernels/optim/checkpoint.hpp"
#include "pipeline/stop.hpp"
#include "tests/cli/run_binary.hpp"

namespace fs = std::filesystem;
using ft::testing::quote;
using ft::testing::read_text;
using ft::testing::Result;
using ft::testing::write_text;

namespace {

constexpr int kEpochs = 8;  // of 8 steps each

struct Workspace : ft::testing::BinaryWorkspace {
  Workspace() : BinaryWorkspace("stop-resume-test") {
    std::string tiny =
        read_text(fs::path(ft::testing::env_or_fail("FT_SOURCE_ROOT")) / "configs/tiny.toml");
    for (const auto& [from, to] :
         {std::pair<std::string, std::string>{"batch_size = 32", "batch_size = 8"},
          {"log_every = 2", "log_every = 3"},  // step-row windows that straddle a stop
          {"epochs = 2", "epochs = " + std::to_string(kEpochs)}}) {
      const auto at = tiny.find(from);
      REQUIRE_MESSAGE(at != std::string::npos, from);
      tiny.replace(at, from.size(), to);
    }
    write_text(dir / "tiny.toml", tiny);
    const Result r = run("import fashion-mnist --limit 64 --out data/fashion-mnist-tiny");
    REQUIRE_MESSAGE(r.code == 0, "import failed: " << r.err);
  }
  fs::path last(const std::string& name) const {
    return dir / "runs" / name / "checkpoints/last.ckpt";
  }
};

Workspace& ws() {
  static Workspace w;
  return w;
}

// `flowtrain run tiny.toml --quiet --set run.name=NAME ARGS...` as a child process (no shell, so
// signals reach it), output in NAME.out / NAME.err.
struct Child {
  pid_t pid = -1;
  std::string name;
};

Child spawn(const std::string& name, const std::vector<std::string>& more = {}) {
  std::vector<std::string> args = {ws().bin,  "run",   "tiny.toml",
                                   "--quiet", "--set", "run.name=" + name};
  args.insert(args.end(), more.begin(), more.end());
  const std::string out = (ws().dir / (name + ".out")).string();
  const std::string err = (ws().dir / (name + ".err")).string();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (::chdir(ws().dir.c_str()) != 0) ::_exit(126);
    const int in = ::open("/dev/null", O_RDONLY);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return {pid, name};
}

// The child's exit status (128 + signal when a signal ended it); kills it after `timeout_s`.
int wait_exit(const Child& c, int timeout_s = 600) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (::waitpid(c.pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, &status, 0);
      FAIL("flowtrain run " << c.name << " did not end within " << timeout_s << " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Waits until `ready` holds (true) or the child has ended (false).
bool wait_until(const Child& c, const std::function<bool()>& ready) {
  for (int i = 0; i < 120000; ++i) {
    if (ready()) return true;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(c.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == c.pid)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// metrics.csv without the columns that measure time (images_per_s, time_s).
std::vector<std::string> metric_rows(const std::string& name) {
  std::istringstream in(read_text(ws().dir / "runs" / name / "metrics.csv"));
  std::vector<std::string> rows;
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string row, f;
    for (int i = 0; i < 8 && std::getline(fields, f, ','); ++i) row += f + ",";
    rows.push_back(row);
  }
  return rows;
}

// Step rows in the run's metrics.csv so far (two per epoch: after batches 3 and 6 of 8).
std::size_t step_rows(const std::string& name) {
  const std::string m = read_text(ws().dir / "runs" / name / "metrics.csv");
  std::size_t n = 0;
  for (std::size_t at = m.find("\nstep,"); at != std::string::npos; at = m.find("\nstep,", at + 1))
    ++n;
  return n;
}

// The uninterrupted run every interrupted one must equal.
const std::string& full_run() {
  static const std::string name = [] {
    const Child c = spawn("full");
    REQUIRE_MESSAGE(wait_exit(c) == 0, read_text(ws().dir / "full.err"));
    return std::string("full");
  }();
  return name;
}

void check_equals_full(const std::string& name) {
  const auto a = ft::optim::load_checkpoint(ws().last(full_run()));
  const auto b = ft::optim::load_checkpoint(ws().last(name));
  CHECK(a.int_value("run.epoch") == kEpochs);
  CHECK(b.int_value("run.epoch") == kEpochs);
  CHECK(b.int_value("run.epoch_batches") == 0);
  CHECK(a.int_value("run.step") == b.int_value("run.step"));
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (const auto& [key, t] : a.tensors) {
    const auto it = b.tensors.find(key);
    REQUIRE_MESSAGE(it != b.tensors.end(), key);
    REQUIRE(t.shape == it->second.shape);
    CHECK_MESSAGE(
        std::memcmp(t.data.data(), it->second.data.data(), t.data.size() * sizeof(float)) == 0,
        name << ": tensor " << key << " differs from the uninterrupted run's");
  }
  const auto full = metric_rows(full_run());
  const auto mine = metric_rows(name);
  CHECK(full.size() > 8 * kEpochs / 3);
  CHECK(mine == full);
}

// Resumes `name` from its last.ckpt until it finishes (`more` each time); the stops it made, and
// in `mid_epoch` how many of them fell inside an epoch.
int resume_to_end(const std::string& name, const std::vector<std::string>& more = {},
                  int* mid_epoch = nullptr) {
  for (int stops = 0; stops < 500; ++stops) {
    std::vector<std::string> args = more;
    args.insert(args.end(), {"--resume", "runs/" + name + "/checkpoints/last.ckpt"});
    const int code = wait_exit(spawn(name, args));
    if (code == 0) return stops;
    REQUIRE_MESSAGE(code == ft::kExitStopped, read_text(ws().dir / (name + ".err")));
    if (mid_epoch)
      *mid_epoch += ft::optim::load_checkpoint(ws().last(name)).int_value("run.epoch_batches") > 0;
  }
  FAIL("the run never finished");
  return 0;
}

// Signals `sig` (`count` times) once the run has written `rows` step rows; checks the stop.
void stop_with(const std::string& name, int sig, int count, std::size_t rows) {
  const Child c = spawn(name);
  REQUIRE(wait_until(c, [&] { return step_rows(name) >= rows; }));
  for (int i = 0; i < count; ++i) ::kill(c.pid, sig);
  const int code = wait_exit(c);
  const std::string err = read_text(ws().dir / (name + ".err"));
  REQUIRE_MESSAGE(code == ft::kExitStopped, err);
  CHECK(err.find(sig == SIGTERM ? "stopped by SIGTERM after " : "stopped by SIGINT after ") !=
        std::string::npos);
  CHECK(err.find("flowtrain run tiny.toml --set run.name=" + name + " --resume runs/" + name +
                 "/checkpoints/last.ckpt") != std::string::npos);
  const auto ck = ft::optim::load_checkpoint(ws().last(name));
  CHECK(ck.int_value("run.step") ==
        ck.int_value("run.epoch") * 8 + ck.int_value("run.epoch_batches"));
  CHECK(ck.int_value("run.step") >= static_cast<std::int64_t>(rows) * 3);
}

}  // namespace

TEST_CASE("parse_time_limit: hours, minutes, seconds in that order, more than zero") {
  CHECK(ft::parse_time_limit("11h50m") == 11 * 3600 + 50 * 60);
  CHECK(ft::parse_time_limit("90m") == 5400);
  CHECK(ft::parse_time_limit("45s") == 45);
  CHECK(ft::parse_time_limit("2h") == 7200);
  CHECK(ft::parse_time_limit("1h30m15s") == 5415);
  CHECK(ft::parse_time_limit("0h1s") == 1);
  for (const char* bad : {"", "abc", "-5m", "0s", "0h0m", "5m3h", "1h1h", "10", "m", "1.5h", " 1h",
                          "1h ", "1d", "99999999999999999999h"})
    CHECK_MESSAGE(!ft::parse_time_limit(bad), bad);
}

TEST_CASE("a bad [run] time_limit is a config error --dry-run names, with the key and value") {
  for (const char* bad : {"abc", "-5m", "0s", "5m3h"}) {
    const Result r = ws().run("run tiny.toml --dry-run --set " +
                              quote(std::string("run.time_limit=\"") + bad + "\""));
    CHECK_MESSAGE(r.code == 2, r.err);
    CHECK_MESSAGE(r.err.find("time_limit") != std::string::npos, r.err);
    CHECK_MESSAGE(
        r.err.find(std::string("\"") + bad + "\" is not a time limit") != std::string::npos, r.err);
  }
  const Result ok = ws().run("run tiny.toml --dry-run --set 'run.time_limit=\"11h50m\"'");
  CHECK_MESSAGE(ok.code == 0, ok.err);
}

TEST_CASE(
    "time_limit: every run stops at a step boundary with 75; the resumed chain equals one run") {
  const std::vector<std::string> limit = {"--set", "run.time_limit=\"1s\""};
  const int first = wait_exit(spawn("limit", limit));
  const std::string err = read_text(ws().dir / "limit.err");
  REQUIRE_MESSAGE(first == ft::kExitStopped, err);
  CHECK(err.find("stopped by the time limit ([run] time_limit) after ") != std::string::npos);
  CHECK(err.find("--resume runs/limit/checkpoints/last.ckpt") != std::string::npos);
  // Each resumed run takes at least one step before its limit stops it again.
  int mid_epoch = ft::optim::load_checkpoint(ws().last("limit")).int_value("run.epoch_batches") > 0;
  resume_to_end("limit", limit, &mid_epoch);
  CHECK(mid_epoch > 0);  // steps of tens of ms: most stops fall inside an epoch
  check_equals_full("limit");
}

TEST_CASE("SIGTERM: stops after the current step, exit 75; --resume equals the uninterrupted run") {
  stop_with("sigterm", SIGTERM, 1, 3);
  // Once an epoch is under way its order is fixed, --accept-changes or not (a dry run checks).
  const auto ck = ft::optim::load_checkpoint(ws().last("sigterm"));
  const int code = wait_exit(
      spawn("sigterm", {"--set", "stage.read.batch_size=4", "--dry-run", "--accept-changes",
                        "--resume", "runs/sigterm/checkpoints/last.ckpt"}));
  const std::string err = read_text(ws().dir / "sigterm.err");
  if (ck.int_value("run.epoch_batches") > 0) {
    CHECK_MESSAGE(code == 2, err);
    CHECK_MESSAGE(err.find("stage.read.batch_size: 8 -> 4") != std::string::npos, err);
    CHECK_MESSAGE(err.find("continues that epoch's data order") != std::string::npos, err);
  } else {
    MESSAGE("the stop fell on an epoch boundary: a changed batch size is allowed there");
    CHECK_MESSAGE(code == 0, err);
  }
  CHECK(resume_to_end("sigterm") == 0);
  check_equals_full("sigterm");
}

TEST_CASE("SIGINT twice: one clean stop; --resume equals the uninterrupted run") {
  stop_with("sigint", SIGINT, 2, 7);
  CHECK(resume_to_end("sigint") == 0);
  check_equals_full("sigint");
}

TEST_CASE("kill -9 between checkpoints: --resume from the last epoch's checkpoint equals one run") {
  const Child c = spawn("kill9");
  // Some steps of epoch 3 are in metrics.csv, after epoch 2's checkpoint.
  REQUIRE(wait_until(c, [&] {
    return read_text(ws().dir / "runs/kill9/metrics.csv").find("\nstep,train,3,") !=
           std::string::npos;
  }));
  ::kill(c.pid, SIGKILL);
  CHECK(wait_exit(c) == 128 + SIGKILL);
  const auto ck = ft::optim::load_checkpoint(ws().last("kill9"));
  CHECK(ck.int_value("run.epoch") >= 2);
  CHECK(ck.int_value("run.epoch_batches") == 0);
  CHECK(resume_to_end("kill9") == 0);
  check_equals_full("kill9");  // the rows the killed run wrote after its checkpoint are not doubled
}

TEST_CASE("SIGINT three times ends the process at once; last.ckpt is never left corrupt") {
  const Child c = spawn("sigint3");
  REQUIRE(wait_until(c, [&] { return step_rows("sigint3") >= 9; }));  // epoch 1's checkpoint
  ::kill(c.pid, SIGINT);
  // The next two may land while the stop's checkpoint is being written.
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(c.pid, SIGINT);
  ::kill(c.pid, SIGINT);
  const int code = wait_exit(c);
  CHECK_MESSAGE((code == 128 + SIGINT || code == ft::kExitStopped), code);
  REQUIRE_NOTHROW(ft::optim::load_checkpoint(ws().last("sigint3")));
  resume_to_end("sigint3");
  check_equals_full("sigint3");
}

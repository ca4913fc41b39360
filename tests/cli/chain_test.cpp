// `flowtrain run a.toml b.toml c.toml`: each link starts from the previous one's last weights; a
// chain killed in its second link and run again skips the first, resumes the second from its last
// checkpoint and ends with the same weights as a chain that was never interrupted.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernels/optim/checkpoint.hpp"
#include "tests/cli/run_binary.hpp"
#include "tests/cli/synth_config.hpp"

namespace fs = std::filesystem;
using ft::testing::quote;
using ft::testing::read_text;
using ft::testing::Result;
using ft::testing::write_text;

namespace {

const char* kModel = "kind = \"resnet_small\"\nwidths = [8, 16]\nstage_blocks = [1, 1]";

struct ChainWorkspace : ft::testing::BinaryWorkspace {
  ChainWorkspace() : BinaryWorkspace("chain-test") {
    REQUIRE(run("synth --out data/bhw1 --classes 4 --train 48 --test 8").code == 0);
    write_text(dir / "a.toml", ft::testing::synth_config("a", kModel, 1));
    write_text(dir / "b.toml", ft::testing::synth_config("b", kModel, 4));
    write_text(dir / "c.toml", ft::testing::synth_config("c", kModel, 1));
  }
  std::int64_t epoch_of(const std::string& ckpt) const {
    return ft::optim::load_checkpoint(dir / ckpt).int_value("run.epoch");
  }
};

void check_same_model(const fs::path& a, const fs::path& b) {
  const auto ca = ft::optim::load_checkpoint(a), cb = ft::optim::load_checkpoint(b);
  std::size_t n = 0;
  for (const auto& [name, rec] : ca.tensors)
    if (name.starts_with("model.")) {
      CAPTURE(name);
      CHECK(cb.tensor(name).data == rec.data);
      ++n;
    }
  CHECK(n > 10);
}

}  // namespace

TEST_CASE("a chain killed in its second link continues where it stopped when run again") {
  ChainWorkspace ws;
  // The reference: the whole chain in one go, in its own runs folder.
  Result r = ws.run("run a.toml b.toml c.toml --quiet --set run.runs_dir=ref");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(read_text(ws.dir / "ref/b/config.toml").find("init_from = 'ref/a/checkpoints/last.ckpt'") !=
        std::string::npos);
  CHECK(read_text(ws.dir / "ref/c/config.toml").find("init_from = 'ref/b/checkpoints/last.ckpt'") !=
        std::string::npos);

  // The same chain, killed (SIGKILL) once b has saved its first epoch.
  const std::string start = "cd " + quote(ws.dir.string()) + " && (" + quote(ws.bin) +
                            " run a.toml b.toml c.toml --quiet >/dev/null 2>&1 & echo $! >pid)";
  REQUIRE(std::system(start.c_str()) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const pid_t pid = std::stoi(read_text(ws.dir / "pid"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(ws.dir / "runs/b/checkpoints/epoch_001.ckpt") &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  while (::kill(pid, 0) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto b_epochs = ws.epoch_of("runs/b/checkpoints/last.ckpt");
  REQUIRE(b_epochs < 4);  // killed inside b
  CHECK(!fs::exists(ws.dir / "runs/c"));
  const auto a_time = fs::last_write_time(ws.dir / "runs/a/checkpoints/last.ckpt");

  r = ws.run("run a.toml b.toml c.toml --quiet");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("a.toml -> runs/a: finished, skipped (1 epochs)") != std::string::npos);
  CHECK(r.out.find("b.toml -> runs/b: unfinished, resumed from runs/b/checkpoints/last.ckpt "
                   "after epoch " +
                   std::to_string(b_epochs)) != std::string::npos);
  CHECK(fs::last_write_time(ws.dir / "runs/a/checkpoints/last.ckpt") == a_time);
  CHECK(ws.epoch_of("runs/b/checkpoints/last.ckpt") == 4);
  CHECK(ws.epoch_of("runs/c/checkpoints/last.ckpt") == 1);
  // Bit for bit the uninterrupted chain's weights (CPU, epoch-boundary resume).
  check_same_model(ws.dir / "ref/b/checkpoints/last.ckpt", ws.dir / "runs/b/checkpoints/last.ckpt");
  check_same_model(ws.dir / "ref/c/checkpoints/last.ckpt", ws.dir / "runs/c/checkpoints/last.ckpt");

  // Finished: a third run changes nothing.
  const auto c_time = fs::last_write_time(ws.dir / "runs/c/checkpoints/last.ckpt");
  r = ws.run("run a.toml b.toml c.toml --quiet");
  CHECK(r.code == 0);
  CHECK(r.out.find("c.toml -> runs/c: finished, skipped") != std::string::npos);
  CHECK(fs::last_write_time(ws.dir / "runs/c/checkpoints/last.ckpt") == c_time);

  // Another config over finished links is refused, naming the key; nothing runs.
  r = ws.run("run a.toml b.toml c.toml --quiet --set optimizer.lr=0.07");
  CHECK(r.code == 2);
  CHECK(r.err.find("chain link 1 (a.toml)") != std::string::npos);
  CHECK(r.err.find("optimizer.lr") != std::string::npos);
  CHECK(fs::last_write_time(ws.dir / "runs/c/checkpoints/last.ckpt") == c_time);
}

TEST_CASE("a chain is refused before anything runs when its links cannot work together") {
  ChainWorkspace ws;
  Result r = ws.run("run a.toml a.toml --quiet");
  CHECK(r.code == 2);
  CHECK(r.err.find("chain links 1 (a.toml) and 2 (a.toml) share the run folder runs/a") !=
        std::string::npos);
  r = ws.run("run a.toml b.toml --resume runs/a/checkpoints/last.ckpt");
  CHECK(r.code == 2);
  CHECK(r.err.find("a chain resumes by itself") != std::string::npos);
  write_text(ws.dir / "bad.toml", ft::testing::synth_config("bad", kModel, 0));
  r = ws.run("run a.toml bad.toml --quiet");
  CHECK(r.code == 2);
  CHECK(r.err.find("bad.toml") != std::string::npos);
  CHECK(!fs::exists(ws.dir / "runs"));  // the valid first link did not run
  // A link killed before its first checkpoint is run again (its folder holds config.toml only).
  fs::create_directories(ws.dir / "runs/a");
  write_text(ws.dir / "runs/a/config.toml", "# killed\n");
  r = ws.run("run a.toml b.toml --dry-run");
  CHECK(r.code == 0);
  CHECK(r.out.find("runs/a: no checkpoint yet, run again") != std::string::npos);
}

namespace {

// The lr of every metrics.csv step row, keyed by (epoch, step) made relative to `first_epoch`.
std::map<std::pair<int, int>, std::string> step_lrs(const std::string& csv, int first_epoch,
                                                    int steps_before) {
  std::map<std::pair<int, int>, std::string> out;
  std::istringstream in(csv);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("step,train,")) continue;
    std::vector<std::string> f;
    std::istringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    const int epoch = std::stoi(f[2]), step = std::stoi(f[3]);
    if (epoch >= first_epoch) out[{epoch - first_epoch, step - steps_before}] = f[4];
  }
  return out;
}

}  // namespace

TEST_CASE("[schedule] start_epoch: a chained link continues one long schedule (torch last_epoch)") {
  ChainWorkspace ws;
  // Warmup then cosine, stepped per iteration: 2 epochs + 2 epochs = the 4-epoch schedule.
  const std::string schedule =
      "[schedule]\nkind = \"cosine\"\nwarmup_epochs = 1\nwarmup_start_factor = 0.1\n";
  write_text(ws.dir / "long.toml", ft::testing::synth_config("long", kModel, 4, schedule));
  write_text(ws.dir / "p1.toml", ft::testing::synth_config("p1", kModel, 2, schedule));
  write_text(ws.dir / "p2.toml",
             ft::testing::synth_config("p2", kModel, 2, schedule + "start_epoch = 2\n"));
  Result r = ws.run("run long.toml --quiet --set metrics.log_every=1");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  // p2 starts 2 epochs into the schedule: its default T_max spans 2 + 2 epochs, as long's.
  r = ws.run("run p1.toml p2.toml --quiet --set metrics.log_every=1");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto long_lrs = step_lrs(read_text(ws.dir / "runs/long/metrics.csv"), 3, 2 * 3);
  const auto p2_lrs = step_lrs(read_text(ws.dir / "runs/p2/metrics.csv"), 1, 0);
  REQUIRE(p2_lrs.size() == 2 * 3);  // 36 train images / 16 = 3 steps per epoch
  CHECK(p2_lrs == long_lrs);
}

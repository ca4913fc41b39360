// The run folder as a careless or hostile user meets it (cli/run_folder.cpp, cli/run.cpp), through
// the flowtrain binary on a 64-image Fashion-MNIST subset and through the folder functions:
// names that leave the runs folder, reruns over an existing run, --overwrite, --resume of a
// finished or changed run, two runs at once, temp files of killed runs, a kill in the middle, a
// checkpoint copy that fails, NaN checkpoints, and values that make no learning rate.
#include "cli/run_folder.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cli/ablate.hpp"
#include "kernels/optim/checkpoint.hpp"
#include "pipeline/error.hpp"
#include "tests/cli/run_binary.hpp"

namespace fs = std::filesystem;
using ft::testing::quote;
using ft::testing::read_text;
using ft::testing::Result;
using ft::testing::write_text;

namespace {

// The scratch folder with data/fashion-mnist-tiny (64 images per split) imported once.
struct Workspace : ft::testing::BinaryWorkspace {
  std::string tiny;  // configs/tiny.toml's text
  Workspace() : BinaryWorkspace("run-folder-test") {
    tiny = read_text(fs::path(ft::testing::env_or_fail("FT_SOURCE_ROOT")) / "configs/tiny.toml");
    REQUIRE(!tiny.empty());
    const Result r = run("import fashion-mnist --limit 64 --out data/fashion-mnist-tiny");
    REQUIRE_MESSAGE(r.code == 0, "import failed: " << r.err);
  }
  // tiny.toml with the first `from` replaced by `to`, plus `append`, written as NAME.toml.
  std::string config(const std::string& name,
                     const std::vector<std::pair<std::string, std::string>>& edits = {},
                     const std::string& append = "") const {
    std::string text = tiny + append;
    for (const auto& [from, to] : edits) {
      const auto at = text.find(from);
      REQUIRE_MESSAGE(at != std::string::npos, from);
      text.replace(at, from.size(), to);
    }
    write_text(dir / (name + ".toml"), text);
    return name + ".toml";
  }
  // "NAME.toml:LINE:COL" of the first occurrence of `needle` in NAME.toml, plus `skip` columns.
  std::string where(const std::string& config_file, const std::string& needle,
                    std::size_t skip = 0) const {
    const std::string text = read_text(dir / config_file);
    auto at = text.find(needle);
    REQUIRE_MESSAGE(at != std::string::npos, needle);
    at += skip;
    const auto line_start = text.rfind('\n', at);
    const std::size_t line = 1 + std::count(text.begin(), text.begin() + at, '\n');
    const std::size_t col = at - (line_start == std::string::npos ? 0 : line_start + 1) + 1;
    return config_file + ":" + std::to_string(line) + ":" + std::to_string(col);
  }
  // flowtrain run on tiny.toml, one epoch by default, quiet, in runs/NAME.
  Result train(const std::string& name, const std::string& more = "") const {
    return run("run tiny.toml --quiet --set run.epochs=1 --set run.name=" + name + " " + more);
  }
  fs::path runs(const std::string& name) const { return dir / "runs" / name; }
};

Workspace& ws() {
  static Workspace w;
  if (!fs::exists(w.dir / "tiny.toml")) w.config("tiny");
  return w;
}

// Every file under `dir` with its bytes: a snapshot to compare after a refused command.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != ".flowtrain.lock")
      out[e.path().lexically_relative(dir).string()] = read_text(e.path());
  return out;
}

std::int64_t checkpoint_epoch(const fs::path& p) {
  return ft::optim::load_checkpoint(p).int_value("run.epoch");
}

}  // namespace

// ---- item 2: run names ---------------------------------------------------------------------

TEST_CASE("run names: one plain path component, or a ConfigError naming where and why") {
  for (const std::string ok : {"fmnist", ".hidden", "a b", "r\xc3\xa9sum\xc3\xa9", "x..y", "-"})
    CHECK_NOTHROW(ft::check_path_component(ok, "here"));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "it is empty"},
      {".", "'.' names a folder above or at the runs folder"},
      {"..", "'..' names a folder above or at the runs folder"},
      {"../../etc/x", "it contains '/'"},
      {"/tmp/abs", "it contains '/'"},
      {"a/b", "it contains '/'"},
      {"tab\there", "it contains a control character"},
      {std::string("nul\0x", 5), "it contains a control character"},
      {std::string(256, 'n'), "it is 256 bytes long (at most 255)"},
  };
  for (const auto& [name, why] : bad)
    CHECK_THROWS_WITH_AS(ft::check_path_component(name, "x.toml:2:8: [run] key 'name'"),
                         doctest::Contains(("x.toml:2:8: [run] key 'name': must be one plain "
                                            "folder or file name (no '/', not '.' or '..', not "
                                            "empty), but " +
                                            why)
                                               .c_str()),
                         ft::ConfigError);
}

TEST_CASE("a run name that leaves the runs folder is refused at validation, before any write") {
  Workspace& w = ws();
  const std::vector<std::string> names = {
      "../escaped", "/tmp/flowtrain-absolute-run-name", "..", "", "a/b", "tab\\there"};
  for (const std::string& name : names) {
    const std::string cfg = w.config("bad_name", {{"name = \"tiny\"", "name = \"" + name + "\""}});
    const std::string at = w.where(cfg, "\"" + name + "\"");
    for (const char* mode : {"--dry-run", "--quiet"}) {
      const Result r = w.run("run " + cfg + " " + mode + " --set run.epochs=1");
      CHECK_MESSAGE(r.code == 2, name << " " << mode << ": " << r.err);
      CHECK_MESSAGE(r.err.find(at + ": [run] key 'name'") != std::string::npos, r.err);
      CHECK_MESSAGE(r.err.find("one plain folder or file name") != std::string::npos, r.err);
    }
  }
  CHECK_FALSE(fs::exists(w.dir / "escaped"));
  CHECK_FALSE(fs::exists("/tmp/flowtrain-absolute-run-name"));

  const Result dir = w.run("run tiny.toml --dry-run --set run.runs_dir='\"\"'");
  CHECK(dir.code == 2);
  CHECK(dir.err.find("[run] key 'runs_dir'") != std::string::npos);

  // A predict stage's file is a name inside the run folder too.
  const std::string predict =
      w.config("bad_predict", {},
               "\n[[stage]]\nid = \"predict\"\nkind = \"predict\"\nafter = \"checkpoint\"\n"
               "file = \"../../predictions.csv\"\n");
  const Result p = w.run("run " + predict + " --dry-run");
  CHECK_MESSAGE(p.code == 2, p.err);
  CHECK_MESSAGE(p.err.find(w.where(predict, "\"../../predictions.csv\"") +
                           ": stage 'predict' key 'file'") != std::string::npos,
                p.err);

  // ablate: the ablation folder's name; the variants' folder names are slugs.
  const Result a = w.run(
      "ablate tiny.toml --dry-run --set run.name='\"../x\"' --vary "
      "optimizer.lr=0.1");
  CHECK(a.code == 2);
  CHECK(a.err.find("[run] key 'name'") != std::string::npos);
}

TEST_CASE("ablate's variant folder names stay plain components whatever the values") {
  for (const std::vector<std::string>& v :
       std::vector<std::vector<std::string>>{{"run.name=../../etc/x"},
                                             {"a=/"},
                                             {"..=.."},
                                             {"x=..", "y=."},
                                             {"k=" + std::string(300, '/')},
                                             {"k=\x01\x02"}}) {
    const std::string slug = ft::variant_slug(v);
    CHECK_NOTHROW(ft::check_path_component(slug, slug));
  }
  CHECK(ft::variant_slug({"run.name=../../etc/x"}) == "run.name-.._.._etc_x");
}

// ---- item 3: results never lost without a word --------------------------------------------

TEST_CASE("stale temp files: *.tmp, *.tmp.N and *.tmp-N go, everything else stays") {
  ft::testing::BinaryWorkspace scratch("temp-files");
  const fs::path d = scratch.dir;
  for (const char* f : {"config.toml.tmp", "summary.json.tmp-123", "checkpoints/last.ckpt.tmp.456",
                        "notes.tmp.txt", "checkpoints/epoch_001.ckpt", "metrics.csv", "a.tmp-x"})
    write_text(d / f, "x");
  fs::create_directories(d / "folder.tmp");
  const auto removed = ft::remove_temp_files(d);
  CHECK(removed.size() == 3);
  CHECK_FALSE(fs::exists(d / "config.toml.tmp"));
  CHECK_FALSE(fs::exists(d / "summary.json.tmp-123"));
  CHECK_FALSE(fs::exists(d / "checkpoints/last.ckpt.tmp.456"));
  for (const char* kept :
       {"notes.tmp.txt", "checkpoints/epoch_001.ckpt", "metrics.csv", "a.tmp-x", "folder.tmp"})
    CHECK_MESSAGE(fs::exists(d / kept), kept);
}

TEST_CASE("one process per folder: a second lock is refused naming the holder") {
  ft::testing::BinaryWorkspace scratch("lock");
  const ft::FolderLock first(scratch.dir);
  const std::string holder =
      "another flowtrain process (pid " + std::to_string(::getpid()) + ") is writing this folder";
  CHECK_THROWS_WITH_AS(ft::FolderLock{scratch.dir}, doctest::Contains(holder.c_str()), ft::Error);
}

TEST_CASE(
    "RunFolder: fresh refuses a run, resume needs its own checkpoint, overwrite sets aside "
    "and puts back") {
  ft::testing::BinaryWorkspace scratch("run-folder");
  const fs::path d = scratch.dir / "r";
  CHECK_NOTHROW(ft::RunFolder(d, ft::FolderUse::fresh, {}, {}));  // new: created
  CHECK(fs::is_directory(d));
  // Only what preview and profile leave, and an empty checkpoints/: not a run.
  write_text(d / "preview_augment.png", "png");
  write_text(d / "profile.json", "{}");
  fs::create_directories(d / "checkpoints");
  CHECK_NOTHROW(ft::RunFolder(d, ft::FolderUse::fresh, {}, {}));

  write_text(d / "config.toml", "old config");
  write_text(d / "metrics.csv", "old metrics");
  write_text(d / "preds.csv", "old predictions");
  write_text(d / "checkpoints/last.ckpt", "old ckpt");
  write_text(d / "checkpoints/mine.txt", "the user's");
  write_text(d / "notes.txt", "the user's");
  const auto before = snapshot(d);
  CHECK_THROWS_WITH_AS(ft::RunFolder(d, ft::FolderUse::fresh, {}, {}),
                       doctest::Contains("already holds a run (checkpoints/, config.toml"),
                       ft::ConfigError);
  CHECK_THROWS_WITH_AS(ft::RunFolder(d, ft::FolderUse::resume, scratch.dir / "elsewhere.ckpt", {}),
                       doctest::Contains("would mix the two"), ft::ConfigError);
  CHECK_NOTHROW(
      ft::RunFolder(d, ft::FolderUse::resume, d / "checkpoints/../checkpoints/last.ckpt", {}));
  CHECK(snapshot(d) == before);

  {
    ft::RunFolder f(d, ft::FolderUse::overwrite, {}, {"preds.csv"});
    CHECK(f.kept() == std::vector<std::string>{"checkpoints/mine.txt", "notes.txt"});
    CHECK_FALSE(fs::exists(d / "config.toml"));
    CHECK_FALSE(fs::exists(d / "preds.csv"));
    CHECK_FALSE(fs::exists(d / "checkpoints/last.ckpt"));
    CHECK(fs::exists(d / "notes.txt"));
    write_text(d / "metrics.csv", "the failed run's header");
    // Destroyed without commit(): the run failed before it set up.
  }
  CHECK(snapshot(d) == before);

  {
    ft::RunFolder f(d, ft::FolderUse::overwrite, {}, {"preds.csv"});
    f.commit();
  }
  const auto after = snapshot(d);
  CHECK(after.count("notes.txt") == 1);
  CHECK(after.count("checkpoints/mine.txt") == 1);
  CHECK(after.count("config.toml") == 0);
  CHECK(after.count("checkpoints/last.ckpt") == 0);
  for (const auto& e : fs::directory_iterator(d))
    CHECK(e.path().filename().string().rfind(".flowtrain-replaced-", 0) != 0);

  // An --overwrite killed before its run set up left the old files aside: the next start (which
  // holds the lock, so that process is gone) removes them.
  write_text(d / ".flowtrain-replaced-999999999/config.toml", "old");
  CHECK_NOTHROW(ft::RunFolder(d, ft::FolderUse::resume, d / "checkpoints/last.ckpt", {}));
  CHECK_FALSE(fs::exists(d / ".flowtrain-replaced-999999999"));
}

TEST_CASE(
    "a rerun over an existing run is refused and changes nothing; a finished run resumed "
    "says so and changes nothing") {
  Workspace& w = ws();
  REQUIRE(w.train("again").code == 0);
  const fs::path run = w.runs("again");
  const auto before = snapshot(run);
  REQUIRE(before.count("summary.json") == 1);

  const Result rerun = w.train("again", "--set optimizer.lr=0.05");
  CHECK(rerun.code == 2);
  CHECK(rerun.err.find("runs/again already holds a run") != std::string::npos);
  CHECK(rerun.err.find("--resume runs/again/checkpoints/last.ckpt") != std::string::npos);
  CHECK(rerun.err.find("--overwrite") != std::string::npos);
  CHECK(snapshot(run) == before);  // metrics.csv not truncated, config.toml not replaced

  const Result finished = w.train("again", "--resume runs/again/checkpoints/last.ckpt");
  CHECK_MESSAGE(finished.code == 0, finished.err);
  CHECK(finished.out.find("nothing to do") != std::string::npos);
  CHECK(snapshot(run) == before);  // summary.json is not rewritten with zeros

  // A dry run says what a real run would need.
  const Result dry = w.run("run tiny.toml --dry-run --set run.name=again");
  CHECK(dry.code == 0);
  CHECK(dry.out.find("runs/again already holds a run") != std::string::npos);
}

TEST_CASE(
    "--overwrite keeps the user's files, and puts the old run back when the new one "
    "fails to set up") {
  Workspace& w = ws();
  REQUIRE(w.train("over").code == 0);
  const fs::path run = w.runs("over");
  write_text(run / "notes.txt", "my notes");
  const auto before = snapshot(run);

  const Result broken = w.train("over", "--overwrite --set data.train.images='\"no/such/folder\"'");
  CHECK(broken.code != 0);
  CHECK(broken.err.find("no/such/folder") != std::string::npos);
  CHECK(snapshot(run) == before);

  const Result ok = w.train("over", "--overwrite --set optimizer.lr=0.05");
  CHECK_MESSAGE(ok.code == 0, ok.err);
  CHECK(read_text(run / "notes.txt") == "my notes");
  CHECK(read_text(run / "config.toml").find("lr = 0.05") != std::string::npos);
  CHECK(read_text(run / "config.toml") != before.at("config.toml"));
  CHECK(checkpoint_epoch(run / "checkpoints/last.ckpt") == 1);
}

TEST_CASE(
    "two runs with the same name at once: the second is refused and leaves the first's "
    "temp files alone") {
  Workspace& w = ws();
  const fs::path run = w.runs("busy");
  fs::create_directories(run / "checkpoints");
  // This test process plays the live run: it holds the folder's lock and a temp file.
  const fs::path live_tmp = run / "checkpoints" / ("last.ckpt.tmp." + std::to_string(::getpid()));
  {
    const ft::FolderLock lock(run);
    write_text(live_tmp, "being written");
    const Result r = w.train("busy", "--overwrite");
    CHECK(r.code == 1);
    CHECK(r.err.find("another flowtrain process (pid " + std::to_string(::getpid()) + ")") !=
          std::string::npos);
    CHECK(fs::exists(live_tmp));
  }
  // Once the holder is gone, its temp file is stale and the next run removes it.
  const Result r = w.train("busy");
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK_FALSE(fs::exists(live_tmp));
}

TEST_CASE(
    "a run killed in the middle: last.ckpt is complete, its temp files go at the next start, "
    "and --resume finishes it") {
  Workspace& w = ws();
  const fs::path run = w.runs("killed");
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::chdir(w.dir.c_str());
    ::execl(w.bin.c_str(), w.bin.c_str(), "run", "tiny.toml", "--quiet", "--set", "run.epochs=3",
            "--set", "run.name=killed", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Kill it as soon as the first checkpoint is there (during epoch 2).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(run / "checkpoints/epoch_001.ckpt") &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(fs::exists(run / "checkpoints/epoch_001.ckpt"));
  REQUIRE(fs::exists(run / "checkpoints/last.ckpt"));
  CHECK(checkpoint_epoch(run / "checkpoints/last.ckpt") >= 1);

  // What a kill inside a write leaves behind.
  write_text(run / "checkpoints/last.ckpt.tmp.999999999", "half a checkpoint");
  write_text(run / "summary.json.tmp", "{");
  write_text(run / "notes.tmp.txt", "not a temp file of flowtrain's");
  const Result r = w.run(
      "run tiny.toml --quiet --set run.epochs=3 --set run.name=killed --resume "
      "runs/killed/checkpoints/last.ckpt");
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(checkpoint_epoch(run / "checkpoints/last.ckpt") == 3);
  CHECK_FALSE(fs::exists(run / "checkpoints/last.ckpt.tmp.999999999"));
  CHECK_FALSE(fs::exists(run / "summary.json.tmp"));
  CHECK(fs::exists(run / "notes.tmp.txt"));
  CHECK(read_text(run / "metrics.csv").find("epoch,val,3,") != std::string::npos);
}

TEST_CASE(
    "ablate: an earlier ablation of the same name is refused without --overwrite; a run of "
    "that name is not in its way") {
  Workspace& w = ws();
  REQUIRE(w.train("abl").code == 0);  // as the README's tour: a run, then an ablation, same name
  const std::string args =
      "ablate tiny.toml --quiet --set run.epochs=1 --set run.name=abl "
      "--vary optimizer.lr=0.05";
  const Result first = w.run(args);
  REQUIRE_MESSAGE(first.code == 0, first.err);
  const auto before = snapshot(w.runs("abl"));
  const Result again = w.run(args);
  CHECK(again.code == 2);
  // comparison.png joins the list where python3-matplotlib is installed (the chart is optional).
  CHECK(again.err.find("runs/abl already holds an ablation (optimizer.lr-0.05/, ablation.csv") !=
        std::string::npos);
  CHECK(snapshot(w.runs("abl")) == before);
  const Result over = w.run(args + " --overwrite");
  CHECK_MESSAGE(over.code == 0, over.err);
  CHECK(fs::exists(w.runs("abl") / "optimizer.lr-0.05" / "summary.json"));
}

// ---- item 4: last.ckpt first ---------------------------------------------------------------

TEST_CASE("a checkpoint copy that fails after last.ckpt is written leaves last.ckpt complete") {
  Workspace& w = ws();
  const fs::path run = w.runs("copyfail");
  // epoch_002.ckpt cannot be made (a folder is in the way; --overwrite keeps it: not ours).
  fs::create_directories(run / "checkpoints" / "epoch_002.ckpt");
  const Result r = w.train("copyfail", "--overwrite --set run.epochs=2");
  CHECK(r.code == 1);
  CHECK(r.err.find("epoch_002.ckpt") != std::string::npos);
  // Written before the copy was tried: the newest state survives the failure.
  CHECK(checkpoint_epoch(run / "checkpoints/last.ckpt") == 2);
  CHECK(checkpoint_epoch(run / "checkpoints/epoch_001.ckpt") == 1);
}

// ---- item 8: resume refuses what it cannot continue ----------------------------------------

TEST_CASE("--resume lists the keys that differ and refuses them unless --accept-changes") {
  Workspace& w = ws();
  REQUIRE(w.train("changed").code == 0);
  const fs::path run = w.runs("changed");
  const auto before = snapshot(run);
  const std::string resume = "--set run.epochs=2 --resume runs/changed/checkpoints/last.ckpt ";

  const Result lr = w.train("changed", resume + "--set optimizer.lr=0.05 --set read.batch_size=16");
  CHECK(lr.code == 2);
  CHECK(lr.err.find("the config differs from the one this checkpoint was trained with") !=
        std::string::npos);
  CHECK(lr.err.find("optimizer.lr: 0.1 -> 0.05 (tiny.toml (--set))") != std::string::npos);
  CHECK(lr.err.find("stage.read.batch_size: 32 -> 16") != std::string::npos);
  CHECK(lr.err.find("--accept-changes") != std::string::npos);
  CHECK(snapshot(run) == before);

  const Result model = w.train("changed", resume + "--set model.widths=[8,16,32] --accept-changes");
  CHECK(model.code == 2);
  CHECK(model.err.find("model.widths: [8, 16, 16] -> [8, 16, 32]") != std::string::npos);
  CHECK(model.err.find("cannot change on resume") != std::string::npos);
  CHECK(snapshot(run) == before);

  // Only how the run executes: not a change.
  const Result threads = w.train("changed", resume + "--set run.threads=1 --dry-run");
  CHECK_MESSAGE(threads.code == 0, threads.err);

  const Result accepted = w.train("changed", resume + "--set optimizer.lr=0.05 --accept-changes");
  CHECK_MESSAGE(accepted.code == 0, accepted.err);
  CHECK(checkpoint_epoch(run / "checkpoints/last.ckpt") == 2);
  CHECK(read_text(run / "config.toml").find("lr = 0.05") != std::string::npos);
}

TEST_CASE("--resume with more epochs: allowed, unless the schedule's length follows run.epochs") {
  Workspace& w = ws();
  // A cosine schedule has no gamma or milestones (tiny.toml's multistep keys).
  const std::string cosine =
      "--set schedule.kind='\"cosine\"' --set schedule.gamma=~ --set schedule.milestones=~ ";
  REQUIRE(w.train("cos", cosine).code == 0);
  const Result r = w.run("run tiny.toml --quiet --set run.name=cos --set run.epochs=2 " + cosine +
                         "--resume runs/cos/checkpoints/last.ckpt");
  CHECK(r.code == 2);
  CHECK(r.err.find("run.epochs: 1 -> 2") != std::string::npos);
  CHECK(r.err.find("the cosine schedule's length follows run.epochs") != std::string::npos);
  // tiny.toml's multistep schedule does not depend on the run's length.
  REQUIRE(w.train("multi").code == 0);
  const Result m = w.run(
      "run tiny.toml --quiet --set run.name=multi --set run.epochs=2 --resume "
      "runs/multi/checkpoints/last.ckpt");
  CHECK_MESSAGE(m.code == 0, m.err);
}

TEST_CASE(
    "a checkpoint holding NaN (valid checksum) is refused by --resume and init_from, naming "
    "the tensor") {
  Workspace& w = ws();
  // (not "nan": --set run.name=nan is the float NaN, refused as not a string)
  REQUIRE(w.train("diverged").code == 0);
  auto ck = ft::optim::load_checkpoint(w.runs("diverged") / "checkpoints/last.ckpt");
  std::string name;
  for (auto& [n, t] : ck.tensors)
    if (n.rfind("model.", 0) == 0 && !t.data.empty()) {
      t.data[0] = std::numeric_limits<float>::quiet_NaN();
      name = n;
      break;
    }
  REQUIRE(!name.empty());
  ft::optim::save_checkpoint(ck, w.dir / "nan.ckpt");

  const Result resume = w.train("from_nan", "--set run.epochs=2 --resume nan.ckpt");
  CHECK(resume.code == 2);
  CHECK(resume.err.find("--resume nan.ckpt: tensor '" + name + "' holds 1 non-finite value") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(w.runs("from_nan")));

  const Result init = w.train("init_nan", "--set model.init_from='\"nan.ckpt\"'");
  CHECK(init.code != 0);
  CHECK(init.err.find("tensor '" + name + "' holds 1 non-finite value") != std::string::npos);
}

// ---- item 9: values that make no sense are refused at validation ----------------------------

TEST_CASE("values that make no learning rate are refused by --dry-run with file:line:col and key") {
  Workspace& w = ws();
  struct Case {
    std::vector<std::pair<std::string, std::string>> edits;
    std::string line;  // the refused key's line, as written (unique in the file)
    std::string key, why;
  };
  const std::vector<Case> cases = {
      {{{"gamma = 0.2", "gamma = inf"}},
       "gamma = inf",
       "[schedule] key 'gamma'",
       "not a finite number"},
      {{{"gamma = 0.2", "gamma = 0.0"}}, "gamma = 0.0", "[schedule] key 'gamma'", "expected > 0"},
      {{{"gamma = 0.2", "gamma = 0.2\nwarmup_epochs = nan"}},
       "warmup_epochs = nan",
       "[schedule] key 'warmup_epochs'",
       "not a finite number"},
      {{{"gamma = 0.2", "gamma = 0.2\nwarmup_start_factor = 0.0"}},
       "warmup_start_factor = 0.0",
       "[schedule] key 'warmup_start_factor'",
       "expected in (0, 1]"},
      {{{"kind = \"multistep\"", "kind = \"onecycle\""},
        {"milestones = [40]\n", ""},
        {"gamma = 0.2", "div_factor = 0.0"}},
       "div_factor = 0.0",
       "[schedule] key 'div_factor'",
       "expected > 0"},
      {{{"kind = \"multistep\"", "kind = \"onecycle\""},
        {"milestones = [40]\n", ""},
        {"gamma = 0.2", "final_div_factor = 0"}},
       "final_div_factor = 0",
       "[schedule] key 'final_div_factor'",
       "expected > 0"},
      {{{"kind = \"multistep\"", "kind = \"cosine_restarts\""},
        {"milestones = [40]\n", ""},
        {"gamma = 0.2", "T_0 = 5\nT_mult = 0"}},
       "T_mult = 0",
       "[schedule] key 'T_mult'",
       "expected >= 1"},
      {{{"kind = \"multistep\"", "kind = \"step\""},
        {"milestones = [40]\n", ""},
        {"gamma = 0.2", "step_size = 0"}},
       "step_size = 0",
       "[schedule] key 'step_size'",
       "expected >= 1"},
      {{{"lr = 0.1", "lr = nan"}}, "lr = nan", "[optimizer] key 'lr'", "not a finite number"},
      {{{"momentum = 0.9", "momentum = inf"}},
       "momentum = inf",
       "[optimizer] key 'momentum'",
       "finite"},
      {{{"splits = [\"train\"]", "splits = []"}},
       "splits = []",
       "stage 'augment' key 'splits'",
       "an empty list names no split"},
  };
  for (const auto& c : cases) {
    const std::string cfg = w.config("meaningless", c.edits);
    const std::string at = w.where(cfg, c.line, c.line.find("= ") + 2);
    const Result r = w.run("run " + cfg + " --dry-run");
    CHECK_MESSAGE(r.code == 2, c.key << ": " << r.code << " " << r.err);
    CHECK_MESSAGE(r.err.find(at + ": " + c.key) != std::string::npos, at << " " << r.err);
    CHECK_MESSAGE(r.err.find(c.why) != std::string::npos, r.err);
  }
}

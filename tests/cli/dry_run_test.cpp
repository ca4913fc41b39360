// `flowtrain run --dry-run` refuses, with exit 2 and file:line:col and the key, everything a real
// run would refuse at setup that is known without reading data: one case per gap issue 10 found
// (each passed --dry-run before and failed only after the run folder and the data), and every
// config under configs/ validates.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/cli/run_binary.hpp"

namespace fs = std::filesystem;
using ft::testing::Result;

namespace {

struct Workspace : ft::testing::BinaryWorkspace {
  std::string tiny;
  Workspace() : BinaryWorkspace("dry-run-test") {
    tiny = ft::testing::read_text(fs::path(ft::testing::env_or_fail("FT_SOURCE_ROOT")) /
                                  "configs/tiny.toml");
    REQUIRE(!tiny.empty());
    ft::testing::write_text(dir / "tiny.toml", tiny);
  }
  // tiny.toml with each `from` replaced by its `to`, written as NAME.toml.
  std::string config(const std::string& name,
                     const std::vector<std::pair<std::string, std::string>>& edits) const {
    std::string text = tiny;
    for (const auto& [from, to] : edits) {
      const auto at = text.find(from);
      REQUIRE_MESSAGE(at != std::string::npos, from);
      text.replace(at, from.size(), to);
    }
    ft::testing::write_text(dir / (name + ".toml"), text);
    return name + ".toml";
  }
  // "NAME.toml:L:C" of the first occurrence of `needle` in NAME.toml, at column offset `col`.
  std::string where(const std::string& file, const std::string& needle, std::size_t col) const {
    const std::string text = ft::testing::read_text(dir / file);
    const auto at = text.find(needle);
    REQUIRE(at != std::string::npos);
    const auto line_start = text.rfind('\n', at) + 1;
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(at), '\n');
    return file + ":" + std::to_string(line) + ":" + std::to_string(at - line_start + col + 1);
  }
};

Workspace& ws() {
  static Workspace w;
  return w;
}

void check_refused(const Result& r, const std::string& at_key, const std::string& why) {
  CHECK_MESSAGE(r.code == 2, r.code << " " << r.err);
  CHECK_MESSAGE(r.err.find(at_key) != std::string::npos, at_key << " in " << r.err);
  CHECK_MESSAGE(r.err.find(why) != std::string::npos, why << " in " << r.err);
  CHECK(r.out.find("is valid") == std::string::npos);
  CHECK_FALSE(fs::exists(ws().dir / "runs"));  // nothing touched the filesystem
}

}  // namespace

TEST_CASE("dry-run: tiny.toml as shipped is valid and touches nothing") {
  const Result r = ws().run("run tiny.toml --dry-run");
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("is valid") != std::string::npos);
  CHECK_FALSE(fs::exists(ws().dir / "runs"));
}

TEST_CASE("dry-run: a misspelt schedule kind is refused with a suggestion") {
  check_refused(ws().run("run tiny.toml --dry-run --set schedule.kind=cosin"),
                "tiny.toml (--set): [schedule] key 'kind'",
                "'cosin' is not one of: constant, step, multistep, exponential, cyclic, onecycle, "
                "cosine, cosine_restarts (did you mean \"cosine\"?)");
}

TEST_CASE("dry-run: an optimizer other than sgd is refused, listing the choices") {
  check_refused(ws().run("run tiny.toml --dry-run --set optimizer.kind=adam"),
                "tiny.toml (--set): [optimizer] key 'kind'", "'adam' is not one of: sgd");
}

TEST_CASE("dry-run: widths and stage_blocks of different lengths") {
  Workspace& w = ws();
  const std::string cfg = w.config("widths", {{"widths = [8, 16, 16]", "widths = [8, 16]"}});
  check_refused(w.run("run " + cfg + " --dry-run"),
                w.where(cfg, "stage_blocks = [1, 1, 1]", 15) + ": [model] key 'stage_blocks'",
                "3 entries, but widths has 2");
}

TEST_CASE("dry-run: nesterov without momentum, at the nesterov key") {
  Workspace& w = ws();
  const std::string cfg = w.config("nesterov", {{"momentum = 0.9\n", ""}});
  check_refused(w.run("run " + cfg + " --dry-run"),
                w.where(cfg, "nesterov = true", 11) + ": [optimizer] key 'nesterov'",
                "needs momentum > 0 and dampening = 0");
}

TEST_CASE("dry-run: milestones not strictly increasing, at the milestones key") {
  Workspace& w = ws();
  for (const char* bad : {"milestones = [40, 20]", "milestones = [40, 40]"}) {
    const std::string cfg = w.config("milestones", {{"milestones = [40]", bad}});
    check_refused(w.run("run " + cfg + " --dry-run"),
                  w.where(cfg, bad, 13) + ": [schedule] key 'milestones'",
                  "must be strictly increasing");
  }
}

TEST_CASE("dry-run: step_size = 0, and a step schedule without step_size") {
  Workspace& w = ws();
  const std::string cfg = w.config("step", {{"kind = \"multistep\"", "kind = \"step\""},
                                            {"milestones = [40]", "step_size = 0"}});
  check_refused(w.run("run " + cfg + " --dry-run"),
                w.where(cfg, "step_size = 0", 12) + ": [schedule] key 'step_size'",
                "0 is out of range: expected >= 1");
  const std::string none = w.config(
      "no_step", {{"kind = \"multistep\"", "kind = \"step\""}, {"milestones = [40]\n", ""}});
  check_refused(w.run("run " + none + " --dry-run"), ": [schedule] key 'kind'",
                "kind = \"step\" needs 'step_size'");
}

TEST_CASE("dry-run: a schedule key another kind uses is refused") {
  check_refused(ws().run("run tiny.toml --dry-run --set schedule.kind=cosine"),
                ": [schedule] key 'gamma'", "only for kind step, multistep, exponential, cyclic");
  const Result ok = ws().run(
      "run tiny.toml --dry-run --set schedule.kind=cosine --set schedule.gamma=~ --set "
      "schedule.milestones=~");
  CHECK_MESSAGE(ok.code == 0, ok.err);
}

TEST_CASE("dry-run: an unknown data format") {
  Workspace& w = ws();
  const std::string cfg = w.config("parquet", {{"format = \"csv\"", "format = \"parquet\""}});
  check_refused(w.run("run " + cfg + " --dry-run"),
                w.where(cfg, "format = \"parquet\"", 9) + ": [data] key 'train.format'",
                "'parquet' is not one of: csv, imagefolder, folder");
}

TEST_CASE("dry-run: a val holdout fraction outside (0, 1), and from on another split") {
  Workspace& w = ws();
  const std::string cfg =
      w.config("fraction",
               {{"val   = { format = \"csv\", images = \"data/fashion-mnist-tiny/test\",  labels = "
                 "\"data/fashion-mnist-tiny/test.csv\" }",
                 "val = { from = \"train\", fraction = 2 }"}});
  check_refused(w.run("run " + cfg + " --dry-run"),
                w.where(cfg, "fraction = 2", 11) + ": [data] key 'val.fraction'",
                "2 is out of range: expected in (0, 1)");
  check_refused(w.run("run tiny.toml --dry-run --set 'data.test={from=\"train\",fraction=0.5}'"),
                "[data] key 'test.from'", "only val can be a holdout");
}

TEST_CASE("dry-run: every config under configs/ validates") {
  const fs::path root = fs::path(ft::testing::env_or_fail("FT_SOURCE_ROOT")) / "configs";
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".toml") continue;
    ++n;
    const Result r = ws().run("run " + ft::testing::quote(e.path().string()) + " --dry-run");
    CHECK_MESSAGE(r.code == 0, e.path() << ": " << r.err);
  }
  CHECK(n >= 6);
}

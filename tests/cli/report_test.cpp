// `flowtrain report` on two real runs of a synthetic dataset: one row per run with the model,
// schedule and train augmentations of its config, the best val top-1 of its metrics.csv, the test
// top-1 only where the test split is labelled, and the chart of both runs' curves.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/run_binary.hpp"
#include "tests/cli/synth_config.hpp"

namespace fs = std::filesystem;
using ft::testing::read_text;
using ft::testing::Result;
using ft::testing::write_text;

namespace {

// The best val top-1 of a metrics.csv and its epoch, read here independently of the command.
std::string best_val(const std::string& csv) {
  std::istringstream in(csv);
  double best = -1;
  int epoch = 0;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("epoch,val,")) continue;
    std::vector<std::string> f;
    std::istringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (std::stod(f[6]) > best) best = std::stod(f[6]), epoch = std::stoi(f[2]);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f%% (epoch %d)", 100 * best, epoch);
  return buf;
}

}  // namespace

TEST_CASE("report: a Markdown table of two runs and a chart of their curves") {
  ft::testing::BinaryWorkspace ws("report-test");
  REQUIRE(ws.run("synth --out data/bhw1 --classes 4 --train 48 --test 8").code == 0);
  const std::string model = "kind = \"resnet_small\"\nwidths = [8, 16]\nstage_blocks = [1, 1]";
  write_text(ws.dir / "a.toml",
             ft::testing::synth_config("a", model, 3,
                                       "[schedule]\nkind = \"multistep\"\nmilestones = [4]\n"));
  std::string b = ft::testing::synth_config("b", model, 1);
  const std::string labelled =
      "format = \"csv\", images = \"data/bhw1/test\", labels = \"data/bhw1/test_labels.csv\"";
  b.replace(b.find(labelled), labelled.size(), "format = \"folder\", images = \"data/bhw1/test\"");
  write_text(ws.dir / "b.toml", b);
  REQUIRE(ws.run("run a.toml --quiet").code == 0);
  REQUIRE(ws.run("run b.toml --quiet").code == 0);

  const Result r = ws.run("report runs/a runs/b --out table.md --chart cmp.png");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::string table = read_text(ws.dir / "table.md");
  CHECK(r.out.starts_with(table));
  CHECK(
      table.starts_with("| run | model | schedule | train augmentations | epochs | best val "
                        "top-1 | test top-1 | wall time | images/s |\n|---|"));
  std::vector<std::string> rows;
  std::istringstream in(table);
  for (std::string l; std::getline(in, l);) rows.push_back(l);
  REQUIRE(rows.size() == 4);
  const std::string& a = rows[2];
  CHECK(
      a.starts_with("| runs/a | resnet_small(stage_blocks=[1, 1], widths=[8, 16]) | lr 0.05 "
                    "multistep(milestones=[4]) | resize(size=32), hflip(p=0.5) | 3 | " +
                    best_val(read_text(ws.dir / "runs/a/metrics.csv")) + " | "));
  CHECK(a.find("| - |") == std::string::npos);  // a's test split is labelled: a number
  const std::string& bl = rows[3];
  CHECK(
      bl.starts_with("| runs/b | resnet_small(stage_blocks=[1, 1], widths=[8, 16]) | lr 0.05 "
                     "constant | resize(size=32), hflip(p=0.5) | 1 | " +
                     best_val(read_text(ws.dir / "runs/b/metrics.csv")) + " | - | "));
  // Wall time from summary.json, one decimal.
  const std::string summary = read_text(ws.dir / "runs/b/summary.json");
  const auto w = summary.find("\"wall_s\": ");
  REQUIRE(w != std::string::npos);
  char wall[32];
  std::snprintf(wall, sizeof wall, "| %.1f s |", std::stod(summary.substr(w + 10)));
  CHECK(bl.find(wall) != std::string::npos);

  // The chart needs matplotlib under /usr/bin/python3; without it the command says so.
  if (std::system("/usr/bin/python3 -c 'import matplotlib' 2>/dev/null") == 0)
    CHECK(fs::file_size(ws.dir / "cmp.png") > 1000);

  const Result missing = ws.run("report runs/a runs/none");
  CHECK(missing.code == 2);
  CHECK(missing.err.find("runs/none holds no run") != std::string::npos);
}

// `flowtrain synth`: the BHW1 layout, deterministic from the seed, atomic and never silently
// reused, and learnable: a small network trained for a few epochs beats chance by far.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <string>

#include "tests/cli/run_binary.hpp"
#include "tests/cli/synth_config.hpp"

namespace fs = std::filesystem;
using ft::testing::read_text;
using ft::testing::Result;
using ft::testing::write_text;

namespace {

// Every file under `dir` (relative path -> bytes).
std::map<std::string, std::string> tree(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().lexically_relative(dir).string()] = read_text(e.path());
  return out;
}

double summary_number(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\": ");
  REQUIRE(at != std::string::npos);
  return std::stod(json.substr(at + key.size() + 4));
}

}  // namespace

TEST_CASE("synth writes the BHW1 layout, deterministically, and refuses to reuse a folder") {
  ft::testing::BinaryWorkspace ws("synth-test");
  Result r = ws.run("synth --out a --classes 3 --train 7 --test 4 --seed 5");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const auto a = tree(ws.dir / "a");
  CHECK(a.size() == 7 + 4 + 3);  // images, labels.csv, test_labels.csv, the marker
  CHECK(a.contains("trainval/trainval_00006.jpg"));
  CHECK(a.contains("test/test_00003.jpg"));
  CHECK(a.at("labels.csv") ==
        "Id,Label\ntrainval_00000.jpg,0\ntrainval_00001.jpg,1\ntrainval_00002.jpg,2\n"
        "trainval_00003.jpg,0\ntrainval_00004.jpg,1\ntrainval_00005.jpg,2\ntrainval_00006.jpg,0\n");
  CHECK(a.at("trainval/trainval_00000.jpg").substr(0, 2) == "\xFF\xD8");  // a JPEG

  REQUIRE(ws.run("synth --out b --classes 3 --train 7 --test 4 --seed 5").code == 0);
  CHECK(tree(ws.dir / "b") == a);  // same seed, same bytes
  REQUIRE(ws.run("synth --out c --classes 3 --train 7 --test 4 --seed 6").code == 0);
  const auto c = tree(ws.dir / "c");
  CHECK(c.at("trainval/trainval_00000.jpg") != a.at("trainval/trainval_00000.jpg"));
  CHECK(c.at("labels.csv") == a.at("labels.csv"));

  // The same request again: nothing written; another one over it: refused, folder unchanged.
  r = ws.run("synth --out a --classes 3 --train 7 --test 4 --seed 5");
  CHECK(r.code == 0);
  CHECK(r.out.find("already there") != std::string::npos);
  r = ws.run("synth --out a --classes 4 --train 7 --test 4 --seed 5");
  CHECK(r.code == 2);
  CHECK(r.err.find("'a' already exists") != std::string::npos);
  CHECK(tree(ws.dir / "a") == a);
  fs::create_directories(ws.dir / "mine");
  CHECK(ws.run("synth --out mine --classes 2").code == 2);
  CHECK(ws.run("synth --out z --classes 0").code == 2);
  CHECK(!fs::exists(ws.dir / "z"));
  for (const auto& e : fs::directory_iterator(ws.dir))  // no temp folder left behind
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
}

TEST_CASE("a synth dataset is learnable: 3 epochs of a small ResNet beat chance (1/8) by far") {
  ft::testing::BinaryWorkspace ws("synth-learn");
  REQUIRE(ws.run("synth --out data/bhw1 --classes 8 --train 320 --test 8").code == 0);
  write_text(ws.dir / "learn.toml",
             ft::testing::synth_config("learn",
                                       "kind = \"resnet_small\"\nwidths = [8, 16]\n"
                                       "stage_blocks = [1, 1]",
                                       3));
  const Result r = ws.run("run learn.toml --quiet --set model.num_classes=8");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::string summary = read_text(ws.dir / "runs/learn/summary.json");
  CHECK(summary_number(summary, "val_top1") > 0.6);
}

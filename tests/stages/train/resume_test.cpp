// stages/train/resume: which config differences a resume refuses, accepts or ignores, and the
// checks of the checkpoint itself (finished, non-finite) before anything is written.
#include "stages/train/resume.hpp"

#include <doctest/doctest.h>

#include <limits>

#include "pipeline/error.hpp"

using namespace ft;

namespace {

toml::table parse(const std::string& text) { return toml::parse(text, std::string("now.toml")); }

const char* kBase = R"([run]
name = "a"
seed = 1
epochs = 2
threads = 4
[model]
kind = "resnet_small"
widths = [8, 16, 16]
[optimizer]
lr = 0.1
[schedule]
kind = "multistep"
milestones = [40]
[[stage]]
id = "read"
kind = "read_files"
batch_size = 32
[[stage]]
id = "train"
kind = "train_step"
after = "read"
)";

std::string with(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return text.replace(at, from.size(), to);
}

std::vector<std::string> keys(const std::vector<ConfigChange>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) out.push_back(c.key);
  return out;
}

optim::Checkpoint checkpoint(const std::string& config, std::int64_t epoch) {
  optim::Checkpoint c;
  c.source = "runs/a/checkpoints/last.ckpt";
  c.ints["run.epoch"] = epoch;
  c.strings["run.config"] = config;
  c.tensors["model.w"] = {{2}, {1.0f, 2.0f}};
  return c;
}

}  // namespace

TEST_CASE(
    "config_changes: how the run executes is ignored, the same value in another spelling "
    "is no change, stages are matched by id") {
  const toml::table before = parse(kBase);
  std::string text = with(kBase, "threads = 4", "threads = 1\nomp_threads = 2");
  text = with(text, "name = \"a\"", "name = \"b\"\nruns_dir = \"elsewhere\"");
  text = with(text, "lr = 0.1", "lr = 1e-1");
  CHECK(config_changes(before, parse(text), "now.toml").empty());
  // The stage declarations in another order: the same graph.
  const std::string reordered =
      "[run]\nname = \"a\"\nseed = 1\nepochs = 2\nthreads = 4\n[model]\nkind = "
      "\"resnet_small\"\nwidths = [8, 16, 16]\n[optimizer]\nlr = 0.1\n[schedule]\nkind = "
      "\"multistep\"\nmilestones = [40]\n[[stage]]\nid = \"train\"\nkind = \"train_step\"\nafter "
      "= \"read\"\n[[stage]]\nid = \"read\"\nkind = \"read_files\"\nbatch_size = 32\n";
  CHECK(config_changes(before, parse(reordered), "now.toml").empty());
}

TEST_CASE(
    "config_changes: each difference with both values and where, architecture and seed "
    "fixed") {
  const toml::table before = parse(kBase);
  std::string text = with(kBase, "lr = 0.1", "lr = 0.05\nmomentum = 0.9");
  text = with(text, "batch_size = 32", "batch_size = 64");
  text = with(text, "widths = [8, 16, 16]", "widths = [8, 16, 32]");
  text = with(text, "seed = 1", "seed = 2");
  const auto changes = config_changes(before, parse(text), "now.toml");
  REQUIRE(keys(changes) == std::vector<std::string>{"model.widths", "optimizer.lr",
                                                    "optimizer.momentum", "run.seed",
                                                    "stage.read.batch_size"});
  CHECK(changes[0].before == "[8, 16, 16]");
  CHECK(changes[0].after == "[8, 16, 32]");
  CHECK(changes[0].fixed);
  CHECK(changes[1].before == "0.1");
  CHECK(changes[1].after == "0.05");
  CHECK(changes[1].where == "now.toml:10:6");
  CHECK_FALSE(changes[1].fixed);
  CHECK(changes[2].before == "(absent)");
  CHECK(changes[3].fixed);
  CHECK(changes[4].after == "64");
}

TEST_CASE("config_changes: run.epochs may change unless the schedule's length follows it") {
  const toml::table before = parse(kBase);
  CHECK(config_changes(before, parse(with(kBase, "epochs = 2", "epochs = 5")), "now.toml").empty());
  const std::string cosine =
      with(with(kBase, "\"multistep\"", "\"cosine\""), "milestones = [40]", "eta_min = 0.0");
  const auto changes =
      config_changes(parse(cosine), parse(with(cosine, "epochs = 2", "epochs = 5")), "now.toml");
  REQUIRE(keys(changes) == std::vector<std::string>{"run.epochs"});
  CHECK(changes[0].why.find("cosine schedule's length follows run.epochs") != std::string::npos);
  // An explicit T_max fixes the length.
  const std::string fixed_length = with(cosine, "eta_min = 0.0", "T_max = 100");
  CHECK(config_changes(parse(fixed_length), parse(with(fixed_length, "epochs = 2", "epochs = 5")),
                       "now.toml")
            .empty());
}

TEST_CASE("check_resume: finished, refused, accepted, non-finite") {
  const toml::table now = parse(kBase);
  const ResumePlan done = check_resume(checkpoint(kBase, 2), now, "now.toml", false);
  CHECK(done.finished);
  CHECK(done.epoch == 2);
  CHECK(done.epochs == 2);
  CHECK_FALSE(check_resume(checkpoint(kBase, 1), now, "now.toml", false).finished);

  const std::string lr = with(kBase, "lr = 0.1", "lr = 0.5");
  CHECK_THROWS_WITH_AS(check_resume(checkpoint(lr, 1), now, "now.toml", false),
                       doctest::Contains("optimizer.lr: 0.5 -> 0.1 (now.toml:10:6)\nresuming with "
                                         "changed values continues a different run"),
                       ConfigError);
  const ResumePlan accepted = check_resume(checkpoint(lr, 1), now, "now.toml", true);
  REQUIRE(accepted.accepted.size() == 1);
  CHECK(accepted.accepted[0].key == "optimizer.lr");

  const std::string kind = with(kBase, "\"resnet_small\"", "\"mini_resnet\"");
  CHECK_THROWS_WITH_AS(check_resume(checkpoint(kind, 1), now, "now.toml", true),
                       doctest::Contains("model.kind cannot change on resume"), ConfigError);

  optim::Checkpoint nan = checkpoint(kBase, 1);
  nan.tensors["model.w"].data[1] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(check_resume(nan, now, "now.toml", false),
                       doctest::Contains("tensor 'model.w' holds 1 non-finite value (the first, at "
                                         "index 1, is nan)"),
                       Error);
  // Checkpoints without a stored config (made by tests) are compared on nothing.
  CHECK(check_resume(checkpoint("", 1), now, "now.toml", false).accepted.empty());
}

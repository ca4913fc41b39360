// stages/source/data_config: the `[data]` table, its holdout form, and config errors that name
// file:line:col and the key.
#include <doctest/doctest.h>

#include <functional>

#include "pipeline/error.hpp"
#include "stages/source/dataset.hpp"
#include "temp_dir.hpp"

using namespace ft;

namespace {

std::string config_error(const std::string& toml_text, int num_classes = 0) {
  const toml::table t = toml::parse(std::string_view(toml_text), std::string_view("run.toml"));
  try {
    load_data_splits(*t["data"].as_table(), "run.toml", num_classes, 0);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("[data] loads csv, holdout and unlabeled splits") {
  TempDir d("dataconfig");
  std::string csv = "Id,Label\n";
  for (int i = 0; i < 20; ++i) {
    const std::string name = std::to_string(i) + ".jpg";
    d.write("train/" + name, "x");
    csv += name + "," + std::to_string(i % 5) + "\n";
  }
  d.write("train.csv", csv);
  d.write("test/q.jpg", "x");
  const std::string root = d.path.string();
  const toml::table t = toml::parse("[data]\ntrain = { format = \"csv\", images = \"" + root +
                                    "/train\", labels = \"" + root +
                                    "/train.csv\" }\nval = { from = \"train\", fraction = 0.25 }\n"
                                    "test = { format = \"folder\", images = \"" +
                                    root + "/test\" }\n");
  const DataSplits s = load_data_splits(*t["data"].as_table(), "run.toml", 10, 3);
  REQUIRE(s.train);
  REQUIRE(s.val);
  REQUIRE(s.test);
  CHECK(s.train->size() == 15);
  CHECK(s.val->size() == 5);
  CHECK(s.train->num_classes == 10);
  CHECK(s.test->size() == 1);
  CHECK(s.test->samples[0].label == -1);
  // Same seed, same holdout.
  const DataSplits again = load_data_splits(*t["data"].as_table(), "run.toml", 10, 3);
  CHECK(again.val->samples[0].id == s.val->samples[0].id);
}

TEST_CASE("[data] config errors name file:line:col and the key") {
  CHECK(config_error("[data]\ntrian = { images = \"x\" }\n") ==
        "run.toml:2:1: [data] unknown key 'trian' (known: train, val, test)");
  CHECK(config_error("[data]\ntrain = \"x\"\n")
            .rfind("run.toml:2:9: [data] key 'train' must be a table", 0) == 0);
  CHECK(config_error("[data]\ntrain = { format = \"tfrecord\", images = \"x\" }\n") ==
        "run.toml:2:20: [data] key 'train.format' is 'tfrecord'; expected one of: csv, "
        "imagefolder, folder, shards");
  CHECK(config_error("[data]\ntrain = { format = \"csv\", images = \"x\" }\n") ==
        "run.toml:2:9: [data] key 'train.labels' is required with format = \"csv\"");
  CHECK(config_error("[data]\ntrain = { format = \"csv\", images = \"x\", label = \"y\" }\n") ==
        "run.toml:2:41: [data] unknown key 'train.label' (known: format, images, labels, path, "
        "from, fraction)");
  CHECK(config_error("[data]\ntrain = { format = \"shards\" }\n") ==
        "run.toml:2:9: [data] key 'train.path' is required with format = \"shards\" (the folder "
        "of .tar shards)");
  CHECK(config_error("[data]\ntrain = { format = \"shards\", path = \"s\", images = \"x\" }\n") ==
        "run.toml:2:51: [data] key 'train.images' is not used with format = \"shards\" (give "
        "path = \"DIR\")");
  CHECK(config_error("[data]\ntrain = { images = \"x\", path = \"s\" }\n") ==
        "run.toml:2:32: [data] key 'train.path' is only used with format = \"shards\" (the "
        "others take images)");
  CHECK(config_error("[data]\nval = { from = \"train\", fraction = 1.5 }\n") ==
        "run.toml:2:36: [data] key 'val.fraction' must be in (0, 1), got 1.500000");
  CHECK(config_error("[data]\ntest = { from = \"train\", fraction = 0.1 }\n")
            .rfind("run.toml:2:17: [data] key 'test.from': only val can be a holdout", 0) == 0);
  CHECK(config_error("[data]\nval = { from = \"train\", fraction = 0.1 }\n") ==
        "run.toml:2:7: [data] key 'val.from' names train, but [data] has no train");
}

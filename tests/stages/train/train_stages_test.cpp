// The training stages through whole runs on a tiny BHW1-layout dataset (trainval/, labels.csv,
// test/): the loss falls and predictions come out right on a learnable task; a non-finite loss
// stops the run naming epoch and step and leaves the last checkpoint intact; a corrupt or
// mismatched checkpoint is rejected by --resume and init_from with a clear message; a diverged
// state is never saved over the last good checkpoint.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "cli/run.hpp"
#include "kernels/io/jpeg.hpp"
#include "kernels/nn/model.hpp"
#include "pipeline/error.hpp"
#include "pipeline/registry.hpp"
#include "stages/train/device_input.hpp"
#include "stages/train/train_state.hpp"

namespace fs = std::filesystem;
using namespace ft;

namespace {

// 3 classes told apart by colour: red, green, blue squares with noise; 16x16 RGB.
fs::path make_dataset() {
  // Per process: two test runs at once must not share it.
  const fs::path root =
      fs::temp_directory_path() / ("ft_train_stages_test_" + std::to_string(::getpid()));
  fs::remove_all(root);
  static const struct Cleanup {  // at exit
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{root};
  fs::create_directories(root / "trainval");
  fs::create_directories(root / "test");
  std::ofstream labels(root / "labels.csv");
  labels << "Id,Label\n";
  std::uint32_t state = 12345;
  auto noise = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<int>((state >> 24) % 40);
  };
  auto image = [&](int cls) {
    std::vector<std::uint8_t> px(16 * 16 * 3);
    for (int i = 0; i < 16 * 16; ++i)
      for (int c = 0; c < 3; ++c)
        px[i * 3 + c] = static_cast<std::uint8_t>((c == cls ? 200 : 30) + noise());
    return io::encode_jpeg(px.data(), 16, 16, 3, 95);
  };
  for (int i = 0; i < 96; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "trainval_%05d.jpg", i);
    const auto bytes = image(i % 3);
    io::write_file_bytes((root / "trainval" / name).string(), bytes.data(), bytes.size());
    labels << name << "," << i % 3 << "\n";
  }
  for (int i = 0; i < 12; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "test_%05d.jpg", i);
    const auto bytes = image(i % 3);
    io::write_file_bytes((root / "test" / name).string(), bytes.data(), bytes.size());
  }
  return root;
}

std::string config(const fs::path& data, const std::string& name, int epochs) {
  const std::string d = data.string();
  std::string text = "[run]\nname = \"" + name + "\"\nruns_dir = \"" + (data / "runs").string() +
                     "\"\nseed = 3\nepochs = " + std::to_string(epochs) + "\nthreads = 2\n";
  text += "[data]\ntrain = { format = \"csv\", images = \"" + d + "/trainval\", labels = \"" + d +
          "/labels.csv\" }\n";
  text += "val = { from = \"train\", fraction = 0.25 }\ntest = { format = \"folder\", images = \"" +
          d + "/test\" }\n";
  text += "[model]\nkind = \"mini_resnet\"\nnum_classes = 3\nblocks = 2\nbase_width = 4\n";
  text += "[optimizer]\nlr = 0.01\nmomentum = 0.9\n[schedule]\nkind = \"cosine\"\n";
  text += R"([[stage]]
id = "read"
kind = "read_files"
batch_size = 8
[[stage]]
id = "decode"
kind = "decode_jpeg"
after = "read"
[[stage]]
id = "augment"
kind = "augment"
after = "decode"
ops = [ { op = "hflip", p = 0.5 }, { op = "normalize", mean = [0.5, 0.5, 0.5], std = [0.25, 0.25, 0.25] } ]
[[stage]]
id = "batch"
kind = "batch"
after = "augment"
[[stage]]
id = "train"
kind = "train_step"
after = "batch"
label_smoothing = 0.1
[[stage]]
id = "eval"
kind = "eval_step"
after = "train"
tta_hflip = true
[[stage]]
id = "predict"
kind = "predict"
after = "eval"
[[stage]]
id = "metrics"
kind = "metrics"
after = "predict"
[[stage]]
id = "checkpoint"
kind = "checkpoint"
after = "metrics"
)";
  const fs::path path = data / (name + ".toml");
  std::ofstream(path) << text;
  return path.string();
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

RunSummary run(const std::string& cfg, std::vector<std::string> overrides = {},
               std::string resume = "", bool accept_changes = false) {
  RunOptions opt;
  opt.config_path = cfg;
  opt.overrides = std::move(overrides);
  opt.resume = std::move(resume);
  opt.accept_changes = accept_changes;
  opt.quiet = true;
  return execute_run(opt);
}

}  // namespace

TEST_CASE("training stages end to end on a BHW1-layout dataset") {
  const fs::path data = make_dataset();
  const std::string cfg = config(data, "a", 4);
  const RunSummary s = run(cfg);
  const fs::path dir = s.run_dir;

  SUBCASE("the loss falls, val accuracy is far above chance, predictions are written in order") {
    std::ifstream csv(dir / "metrics.csv");
    std::string line;
    double val_top1 = 0;
    while (std::getline(csv, line)) {
      if (line.rfind("epoch,val,", 0) == 0) {
        // scope,split,epoch,step,lr,loss,top1,...
        std::vector<std::string> f;
        std::stringstream ss(line);
        for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
        val_top1 = std::stod(f[6]);
      }
    }
    std::ifstream csv2(dir / "metrics.csv");
    std::vector<double> losses;
    while (std::getline(csv2, line)) {
      if (line.rfind("epoch,train,", 0) != 0) continue;
      std::vector<std::string> f;
      std::stringstream ss(line);
      for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
      losses.push_back(std::stod(f[5]));
    }
    REQUIRE(losses.size() == 4);
    CHECK(losses.back() < losses.front());
    CHECK(val_top1 >= 0.9);  // colours are trivially separable: chance is 1/3

    const std::string pred = read_text(dir / "predictions.csv");
    CHECK(pred.rfind("Id,Label\ntest_00000.jpg,0\n", 0) == 0);
    int right = 0, rows = 0;
    std::stringstream ps(pred);
    std::getline(ps, line);
    while (std::getline(ps, line)) {
      const int idx = std::stoi(line.substr(5, 5));
      right += std::stoi(line.substr(line.find(',') + 1)) == idx % 3;
      ++rows;
    }
    CHECK(rows == 12);
    CHECK(right >= 11);
    CHECK(fs::exists(dir / "checkpoints" / "last.ckpt"));
    CHECK(fs::exists(dir / "checkpoints" / "epoch_004.ckpt"));
  }

  SUBCASE(
      "a non-finite loss stops the run naming epoch and step; the last checkpoint stays intact") {
    const std::string before = read_text(dir / "checkpoints" / "last.ckpt");
    try {
      run(cfg, {"optimizer.lr=1e30", "run.epochs=6"}, (dir / "checkpoints" / "last.ckpt").string(),
          /*accept_changes=*/true);
      FAIL("expected the run to stop");
    } catch (const Error& e) {
      const std::string msg = e.what();
      CHECK(msg.find("the training loss is") != std::string::npos);
      CHECK(msg.find("at epoch 5, step") != std::string::npos);
    }
    CHECK(read_text(dir / "checkpoints" / "last.ckpt") == before);
  }

  SUBCASE("a truncated checkpoint is rejected by --resume with its path") {
    const fs::path bad = data / "truncated.ckpt";
    const std::string full = read_text(dir / "checkpoints" / "last.ckpt");
    std::ofstream(bad, std::ios::binary) << full.substr(0, full.size() / 2);
    CHECK_THROWS_WITH_AS(run(cfg, {"run.name=b", "run.epochs=5"}, bad.string()),
                         doctest::Contains(bad.string().c_str()), Error);
    CHECK_THROWS_WITH_AS(run(cfg, {"run.name=b", "run.epochs=5"}, bad.string()),
                         doctest::Contains("truncated"), Error);
  }

  SUBCASE("init_from with a mismatched model names the tensor and both shapes") {
    const std::string ckpt = (dir / "checkpoints" / "last.ckpt").string();
    try {
      run(cfg, {"run.name=c", "model.num_classes=5", "model.init_from=" + ckpt});
      FAIL("expected a mismatch");
    } catch (const Error& e) {
      const std::string msg = e.what();
      CHECK(msg.find(ckpt) != std::string::npos);
      CHECK(msg.find("[5") != std::string::npos);
      CHECK(msg.find("[3") != std::string::npos);
    }
  }

  SUBCASE("init_from loads the weights and starts a new schedule") {
    const std::string ckpt = (dir / "checkpoints" / "last.ckpt").string();
    const RunSummary s2 = run(cfg, {"run.name=d", "run.epochs=1", "model.init_from=" + ckpt});
    // Already trained: the first (and only) epoch's val accuracy is high from the start.
    const std::string summary = read_text(fs::path(s2.run_dir) / "summary.json");
    const auto at = summary.find("\"val_top1\": ");
    REQUIRE(at != std::string::npos);
    CHECK(std::stod(summary.substr(at + 12)) >= 0.9);
  }
}

TEST_CASE(
    "input already in GPU memory: the batch stage leaves it, a CPU model refuses it naming [run] "
    "device") {
  Batch b;
  for (int i = 0; i < 2; ++i) b.id.push_back("s" + std::to_string(i));
  b.input_device.shape = {2, 3, 8, 8};  // never dereferenced on these paths
  const StageKind* batch_kind = builtin_registry().find("batch");
  REQUIRE(batch_kind);
  auto collate = batch_kind->make(Params(toml::table{}, "batch", "t.toml", &batch_kind->params));
  collate->run(b);
  CHECK(b.input.shape.empty());
  CHECK(input_shape(b) == std::vector<std::int64_t>{2, 3, 8, 8});

  nn::ModelSpec spec;
  spec.in_channels = 3;
  spec.height = spec.width = 8;
  auto model = nn::make_model(spec);
  std::vector<float> logits(20);
  CHECK_THROWS_WITH_AS(forward_input(*model, b, true, logits.data()),
                       doctest::Contains("[run] device = \"cuda\""), Error);
  // On the host, the same call runs the model on the host tensor.
  b.input_device.clear();
  b.input.resize({2, 3, 8, 8});
  forward_input(*model, b, false, logits.data());
  CHECK(std::isfinite(logits[0]));
}

TEST_CASE("a diverged state is not saved over the last good checkpoint") {
  const fs::path dir = fs::temp_directory_path() / ("ft_nan_save_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  RunContext ctx;
  ctx.run_dir = dir;
  auto state = TrainState::get(ctx);
  nn::Model& model = state->model(1, 8, 8);
  const std::string last = (dir / "checkpoints" / "last.ckpt").string();
  state->save(last);
  const std::string good = read_text(last);
  model.parameters().front()->value[0] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(state->save(last, {(dir / "checkpoints" / "epoch_001.ckpt").string()}),
                       doctest::Contains("holds 1 non-finite value"), Error);
  CHECK(read_text(last) == good);
  CHECK_FALSE(fs::exists(dir / "checkpoints" / "epoch_001.ckpt"));
  fs::remove_all(dir);
}

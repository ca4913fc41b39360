// End-to-end tests of the flowtrain binary ($FLOWTRAIN), run as a subprocess on a 300-image
// Fashion-MNIST subset imported once into a scratch folder (configs/tiny.toml, run from there):
// run folder contents, falling loss, resume == uninterrupted, ablate, preview, plain output when
// not on a terminal, exit code 2 for bad input, `devices`.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/ablate.hpp"
#include "cli/device.hpp"
#include "cli/plots.hpp"
#include "cli/preview.hpp"
#include "kernels/optim/checkpoint.hpp"

namespace fs = std::filesystem;

namespace {

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  REQUIRE_MESSAGE(v != nullptr, name << " is not set (run through meson test)");
  return v;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Result {
  int code = -1;
  std::string out, err;
};

// The scratch folder: data/fashion-mnist-tiny imported once; runs/ written by the tests.
struct Workspace {
  fs::path dir, config;
  std::string bin;
  Workspace() {
    bin = env_or_fail("FLOWTRAIN");
    config = fs::path(env_or_fail("FT_SOURCE_ROOT")) / "configs/tiny.toml";
    dir = fs::temp_directory_path() / ("flowtrain-cli-test-" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const Result r = run("import fashion-mnist --limit 300 --out data/fashion-mnist-tiny");
    REQUIRE_MESSAGE(r.code == 0, "import failed: " << r.err);
  }
  ~Workspace() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  // flowtrain ARGS in the scratch folder, stdout and stderr captured to files (not a terminal).
  Result run(const std::string& args) const {
    const std::string cmd = "cd " + quote(dir.string()) + " && " + quote(bin) + " " + args + " >" +
                            quote((dir / "stdout.txt").string()) + " 2>" +
                            quote((dir / "stderr.txt").string()) + " </dev/null";
    const int status = std::system(cmd.c_str());
    Result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_text(dir / "stdout.txt");
    r.err = read_text(dir / "stderr.txt");
    return r;
  }
  std::string cfg() const { return quote(config.string()); }
};

Workspace& ws() {
  static Workspace w;
  return w;
}

// The uninterrupted 2-epoch run, shared by the tests that look at it.
const Result& full_run() {
  static const Result r = ws().run("run " + ws().cfg() + " --set run.name=full");
  return r;
}

std::vector<std::vector<std::string>> csv_rows(const fs::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_text(p));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells;
    std::istringstream ls(line);
    for (std::string c; std::getline(ls, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

bool has_matplotlib() {
  return std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") == 0;
}

}  // namespace

TEST_CASE(
    "run: the run folder holds the config, metrics, summary and checkpoints, and the loss falls") {
  const Result& r = full_run();
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const fs::path run = ws().dir / "runs/full";
  CHECK(fs::is_regular_file(run / "config.toml"));
  CHECK(fs::is_regular_file(run / "summary.json"));
  CHECK(fs::is_regular_file(run / "checkpoints/last.ckpt"));
  CHECK(read_text(run / "config.toml").find("name = 'full'") !=
        std::string::npos);  // toml++ writes literal strings

  const auto rows = csv_rows(run / "metrics.csv");
  REQUIRE(rows.size() > 1);
  CHECK(rows[0] == std::vector<std::string>{"scope", "split", "epoch", "step", "lr", "loss", "top1",
                                            "top5", "images_per_s", "time_s"});
  std::vector<double> step_loss;
  int train_epochs = 0, val_epochs = 0;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    REQUIRE(rows[i].size() == 10);
    if (rows[i][0] == "step") step_loss.push_back(std::stod(rows[i][5]));
    if (rows[i][0] == "epoch" && rows[i][1] == "train") ++train_epochs;
    if (rows[i][0] == "epoch" && rows[i][1] == "val") ++val_epochs;
  }
  CHECK(train_epochs == 2);
  CHECK(val_epochs == 2);
  // 300 images / 32 per batch, log_every 2: about 5 step rows per epoch.
  REQUIRE(step_loss.size() >= 8);
  // From ~ln(10) = 2.30 at the start; 20 SGD steps on 300 images bring it well below.
  MESSAGE("train loss: first window " << step_loss.front() << ", last window " << step_loss.back());
  CHECK(step_loss.back() < step_loss.front() - 0.3);

  const std::string summary = read_text(run / "summary.json");
  for (const char* key : {"\"epochs\": 2", "\"device\": \"cpu\"", "\"val_top1\"",
                          "\"val_samples\": 300", "\"train_images_per_s\""})
    CHECK_MESSAGE(summary.find(key) != std::string::npos, key << " not in " << summary);
}

TEST_CASE("run: output to a pipe has no carriage returns or escape sequences") {
  const Result& r = full_run();
  REQUIRE(r.code == 0);
  CHECK_FALSE(r.err.empty());  // progress lines were printed, just plain
  for (const std::string* s : {&r.out, &r.err}) {
    CHECK_MESSAGE(s->find('\r') == std::string::npos, *s);
    CHECK_MESSAGE(s->find('\x1b') == std::string::npos, *s);
  }
}

TEST_CASE("run: 1 epoch then --resume to 2 equals 2 epochs uninterrupted, byte for byte") {
  REQUIRE(full_run().code == 0);
  const Result a =
      ws().run("run " + ws().cfg() + " --quiet --set run.name=resumed --set run.epochs=1");
  REQUIRE_MESSAGE(a.code == 0, a.err);
  const Result b = ws().run("run " + ws().cfg() +
                            " --quiet --set run.name=resumed --set run.epochs=2 --resume " +
                            "runs/resumed/checkpoints/last.ckpt");
  REQUIRE_MESSAGE(b.code == 0, b.err);

  const auto full = ft::optim::load_checkpoint(ws().dir / "runs/full/checkpoints/last.ckpt");
  const auto resumed = ft::optim::load_checkpoint(ws().dir / "runs/resumed/checkpoints/last.ckpt");
  CHECK(full.int_value("run.step") == resumed.int_value("run.step"));
  CHECK(full.int_value("run.epoch") == 2);
  CHECK(resumed.int_value("run.epoch") == 2);
  REQUIRE(full.tensors.size() == resumed.tensors.size());
  int model_tensors = 0;
  for (const auto& [name, t] : full.tensors) {
    const auto it = resumed.tensors.find(name);
    REQUIRE_MESSAGE(it != resumed.tensors.end(), name);
    REQUIRE(t.shape == it->second.shape);
    CHECK_MESSAGE(
        std::memcmp(t.data.data(), it->second.data.data(), t.data.size() * sizeof(float)) == 0,
        name);
    model_tensors += name.rfind("model.", 0) == 0;
  }
  CHECK(model_tensors > 10);
  // The resumed run's metrics.csv continues the first one: epoch rows for both epochs.
  const std::string m = read_text(ws().dir / "runs/resumed/metrics.csv");
  CHECK(m.find("epoch,val,1,") != std::string::npos);
  CHECK(m.find("epoch,val,2,") != std::string::npos);
}

TEST_CASE("ablate: a two-variant grid gives two run folders, a table and ablation.csv") {
  const Result r =
      ws().run("ablate " + ws().cfg() +
               " --quiet --vary optimizer.lr=0.05,0.02 --set run.epochs=1 --set run.name=abl");
  REQUIRE_MESSAGE(r.code == 0, r.out << r.err);
  const fs::path base = ws().dir / "runs/abl";
  for (const char* v : {"optimizer.lr-0.05", "optimizer.lr-0.02"}) {
    CHECK(fs::is_regular_file(base / v / "summary.json"));
    CHECK(fs::is_regular_file(base / v / "config.toml"));
    CHECK(r.out.find(v) != std::string::npos);
  }
  CHECK(r.out.find("val top1") != std::string::npos);
  const auto rows = csv_rows(base / "ablation.csv");
  REQUIRE(rows.size() == 3);
  CHECK(rows[0][0] == "variant");
  CHECK(rows[1][2] == "0.05");
  CHECK(rows[1][3] == "ok");
  CHECK(std::stod(rows[1][4]) > 0.0);  // val top-1 of a trained net on 10 classes
  if (has_matplotlib()) CHECK(fs::is_regular_file(base / "comparison.png"));
  CHECK(r.out.find('\r') == std::string::npos);
}

TEST_CASE("ablate: values with commas inside braces; ~ drops; --dry-run validates every variant") {
  const Result r = ws().run(
      "ablate " + ws().cfg() +
      " --dry-run --vary 'augment.ops.1={op=\"hflip\",p=0.5},~' --vary stage.batch.kind=batch");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("2 variants") != std::string::npos);
  CHECK(r.out.find("augment.ops.1-none__stage.batch.kind-batch") != std::string::npos);
  CHECK_FALSE(fs::exists(ws().dir / "runs/tiny/augment.ops.1-none__stage.batch.kind-batch"));

  const Result bad = ws().run("ablate " + ws().cfg() + " --dry-run --vary optimizer.lr=0.1,fast");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("optimizer.lr-fast") != std::string::npos);
}

TEST_CASE("ablate: split_values and variant_slug") {
  using V = std::vector<std::string>;
  CHECK(ft::split_values("0.1,0.05") == V{"0.1", "0.05"});
  CHECK(ft::split_values("{op=\"hflip\",p=0.5},~") == V{"{op=\"hflip\",p=0.5}", "~"});
  CHECK(ft::split_values("[1,2],[3,[4,5]]") == V{"[1,2]", "[3,[4,5]]"});
  CHECK(ft::split_values("\"a,b\",c") == V{"\"a,b\"", "c"});
  CHECK(ft::variant_slug({"optimizer.lr=0.05"}) == "optimizer.lr-0.05");
  CHECK(ft::variant_slug({"augment.ops.1=~", "model.widths=[8,16]"}) ==
        "augment.ops.1-none__model.widths-8_16");
  CHECK(ft::variant_slug({"augment.ops.+1={op=\"rotate\",degrees=10}"}) ==
        "augment.ops.+1-op-rotate_degrees-10");
}

TEST_CASE("preview: writes a PNG grid of the right size after the augment stage") {
  const fs::path out = ws().dir / "preview.png";
  const Result r =
      ws().run("preview " + ws().cfg() + " --stage augment --n 16 --out " + out.string());
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::string png = read_text(out);
  REQUIRE(png.size() > 33);
  CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  CHECK(png.compare(12, 4, "IHDR") == 0);
  const auto be32 = [&](std::size_t at) {
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at])) << 24) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 2])) << 8) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(png[at + 3]));
  };
  const ft::PreviewLayout l = ft::preview_layout(16, 28, 28);
  CHECK(l.cols == 4);
  CHECK(l.rows == 4);
  CHECK(be32(16) == static_cast<std::uint32_t>(l.width()));
  CHECK(be32(20) == static_cast<std::uint32_t>(l.height()));
  CHECK(static_cast<unsigned char>(png[24]) == 8);  // bit depth
  CHECK(static_cast<unsigned char>(png[25]) == 0);  // grayscale: Fashion-MNIST has one channel

  // Default path, val split (the augment stage runs only in train; augment_eval in val).
  const Result v = ws().run("preview " + ws().cfg() + " --stage augment_eval --split val --n 5");
  REQUIRE_MESSAGE(v.code == 0, v.err);
  CHECK(fs::is_regular_file(ws().dir / "runs/tiny/preview_augment_eval.png"));
  CHECK_FALSE(fs::exists(ws().dir / "runs/tiny/metrics.csv"));  // a preview is not a run
}

TEST_CASE("bad input exits with code 2 and names the thing at fault") {
  struct Case {
    std::string args, named;
  };
  const std::vector<Case> cases = {
      {"run " + ws().cfg() + " --bogus", "--bogus"},
      {"run no_such_config.toml", "no_such_config.toml"},
      {"run " + ws().cfg() + " --set optimizer.lrr=0.1", "lrr"},
      {"preview " + ws().cfg() + " --stage augmnt", "augmnt"},
      {"ablate " + ws().cfg() + " --vary optimizer.lr", "optimizer.lr"},
      {"run " + ws().cfg() + " --set augment.output='\"device\"'",
       "output = \"device\" needs device = \"cuda\""},
      {"run " + ws().cfg() +
           " --set augment.output='\"device\"' --set augment.device='\"cuda\"' "
           "--set augment.ops.2.dtype='\"bf16\"'",
       "need a normalize with dtype = \"f32\""},
  };
  for (const auto& c : cases) {
    const Result r = ws().run(c.args);
    CHECK_MESSAGE(r.code == 2, c.args << " -> " << r.code << ": " << r.err);
    CHECK_MESSAGE(r.err.find(c.named) != std::string::npos, c.args << " -> " << r.err);
  }
  const Result p = ws().run("preview " + ws().cfg() + " --stage augmnt");
  CHECK(p.err.find("did you mean 'augment'") != std::string::npos);
  if (!fs::exists("/dev/nvidia0")) {  // without a GPU, asking for one is a config error
    const Result g = ws().run("run " + ws().cfg() + " --set run.device='\"cuda\"'");
    CHECK(g.code == 2);
    CHECK(g.err.find("[run] device = \"cuda\"") != std::string::npos);
  }
}

TEST_CASE(
    "draw_curves: curves.png from a run folder; a folder without metrics is a warning, not an "
    "error") {
  REQUIRE(full_run().code == 0);
  const fs::path run = ws().dir / "runs/full";
  ft::draw_curves(run.string());
  if (has_matplotlib()) {
    const std::string png = read_text(run / "curves.png");
    CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  }
  CHECK_FALSE(ft::plot_runs({(ws().dir / "data").string()}, (ws().dir / "none.png").string()));
  CHECK_FALSE(fs::exists(ws().dir / "none.png"));
}

TEST_CASE("devices: exits 0 and either lists each GPU or says why none is usable") {
  const Result r = ws().run("devices");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const bool listed = r.out.find("GPU 0: ") != std::string::npos;
  const bool reason = r.out.find("no usable GPU: ") != std::string::npos;
  CHECK_MESSAGE(listed != reason, r.out);
  if (reason) CHECK(r.out.size() > std::string("no usable GPU: \n").size() + 3);  // says why
}

TEST_CASE("devices: each GPU's memory and compute capability, and the library versions") {
  ft::nn::cuda::DeviceReport r;
  r.built_with_cuda = true;
  r.runtime_version = 13000;
  r.driver_cuda_version = 13010;
  r.driver_release = "580.65.06";
  r.cudnn_version = 91002;
  r.cublas_major = 13;
  r.cublas_minor = 1;
  r.devices.push_back({.index = 0,
                       .name = "NVIDIA H200",
                       .memory_bytes = std::size_t{140} << 30,
                       .cc_major = 9,
                       .cc_minor = 0,
                       .multiprocessors = 132});
  r.devices.push_back(
      {.index = 1,
       .name = "Old GPU",
       .memory_bytes = std::size_t{8} << 30,
       .cc_major = 7,
       .cc_minor = 5,
       .multiprocessors = 40,
       .kernels_error = "no kernel image is available for execution on the device"});
  CHECK(ft::devices_text(r) ==
        "CUDA runtime 13.0, driver 580.65.06 (CUDA 13.1), cuDNN 9.10.2, cuBLAS 13.1.0\n"
        "GPU 0: NVIDIA H200, 140.0 GiB, compute capability 9.0, 132 SMs\n"
        "GPU 1: Old GPU, 8.0 GiB, compute capability 7.5, 40 SMs; flowtrain's kernels cannot run "
        "on it: no kernel image is available for execution on the device\n");

  ft::nn::cuda::DeviceReport no_driver;
  no_driver.built_with_cuda = true;
  no_driver.runtime_version = 13000;
  no_driver.cudnn_version = 91900;
  no_driver.cublas_major = 13;
  no_driver.why_none = "cudaGetDeviceCount: CUDA driver version is insufficient";
  CHECK(ft::devices_text(no_driver) ==
        "CUDA runtime 13.0, no CUDA driver, cuDNN 9.19.0, cuBLAS 13.0.0\n"
        "no usable GPU: cudaGetDeviceCount: CUDA driver version is insufficient\n");

  ft::nn::cuda::DeviceReport none;
  none.why_none = "this flowtrain was built without CUDA (meson option gpu)";
  CHECK(ft::devices_text(none) ==
        "no usable GPU: this flowtrain was built without CUDA (meson option gpu)\n");
}

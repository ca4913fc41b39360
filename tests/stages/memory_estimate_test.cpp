// stages/memory_estimate: the model walk's parameter count equals the built models' for every
// architecture; a run's estimate adds up its columns, model and activations; a config that
// cannot fit (widths of 8192 with 1024 blocks per stage: trillions of parameters) is refused at
// setup with the estimate and the limit, without allocating the model.
#include "stages/memory_estimate.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "kernels/io/jpeg.hpp"
#include "kernels/nn/model.hpp"
#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "pipeline/registry.hpp"
#include "stages/source/dataset.hpp"
#include "stages/stage_shared.hpp"
#include "tests/hostile.hpp"

namespace fs = std::filesystem;
using namespace ft;

namespace {

nn::ModelSpec spec_of(const std::string& kind, int c, int h, int w) {
  nn::ModelSpec s;
  s.kind = kind;
  s.in_channels = c;
  s.height = h;
  s.width = w;
  return s;
}

struct TempData {
  fs::path dir = fs::temp_directory_path() / ("ft_memest_" + std::to_string(::getpid()));
  fs::path jpg = dir / "a.jpg";
  std::size_t jpeg_size = 0;
  TempData() {
    fs::create_directories(dir);
    std::vector<std::uint8_t> px(28 * 28, 100);
    const auto bytes = io::encode_jpeg(px.data(), 28, 28, 1);
    jpeg_size = bytes.size();
    io::write_file_bytes(jpg.string(), bytes.data(), bytes.size());
  }
  ~TempData() { fs::remove_all(dir); }
};

const char* kRun = R"([model]
kind = "resnet_small"
num_classes = 10

[optimizer]
momentum = 0.9

[[stage]]
id = "read"
kind = "read_files"
batch_size = 64

[[stage]]
id = "decode"
kind = "decode_jpeg"
after = "read"

[[stage]]
id = "augment"
kind = "augment"
after = "decode"
ops = [ { op = "normalize", mean = 0.5, std = 0.5 } ]

[[stage]]
id = "batch"
kind = "batch"
after = "augment"

[[stage]]
id = "train"
kind = "train_step"
after = "batch"
)";

MemoryEstimate estimate(const std::vector<std::string>& overrides, const TempData& data,
                        std::string* refusal = nullptr) {
  const Config cfg = parse_config(kRun, "mem.toml", overrides);
  const ResolvedGraph g = resolve_graph(cfg, builtin_registry());
  RunContext ctx;
  ctx.config = &cfg.root;
  ctx.config_file = "mem.toml";
  auto splits = std::make_shared<DataSplits>();
  splits->train = Dataset{{Sample{"a.jpg", data.jpg, 0}}, 10, {}, "test"};
  stage_shared(ctx).datasets = splits;
  if (refusal) {
    try {
      check_run_memory(g, ctx, 4);
    } catch (const Error& e) {
      *refusal = e.what();
    }
  }
  return estimate_run_memory(g, ctx, 4);
}

}  // namespace

TEST_CASE("model_footprint counts the parameters make_model allocates, for every kind") {
  std::vector<nn::ModelSpec> specs = {
      spec_of("resnet_small", 1, 28, 28), spec_of("mini_resnet", 3, 32, 32),
      spec_of("resnet18", 3, 32, 32),     spec_of("resnet34", 3, 32, 32),
      spec_of("resnet50", 3, 32, 32),     spec_of("resnext50_32x4d", 3, 32, 32)};
  specs[0].widths = {8, 24, 40, 48};
  specs[0].stage_blocks = {2, 1, 3, 1};
  specs[1].blocks = 3;
  specs[1].base_width = 8;
  for (const auto& s : specs) {
    CAPTURE(s.kind);
    const auto model = nn::make_model(s);
    CHECK(static_cast<std::int64_t>(model_footprint(s).parameters) == model->num_parameters());
    CHECK(model_footprint(s).activations > 0);
  }
  CHECK_THROWS_AS(model_footprint(spec_of("vgg", 3, 32, 32)), std::invalid_argument);
}

TEST_CASE("a run's estimate: columns per batch, model with momentum, activations") {
  TempData data;
  const MemoryEstimate e = estimate({}, data);
  // Per sample: the file, the decoded u8 image, the normalized f32 image, the f32 input.
  CHECK(e.batch_bytes == doctest::Approx(64.0 * (data.jpeg_size + 784 + 784 * 4 + 784 * 4)));
  CHECK(e.tokens == 4);
  CHECK(e.batch_size == 64);
  CHECK(e.sample_shape == "1x28x28 f32");
  nn::ModelSpec spec = spec_of("resnet_small", 1, 28, 28);
  const double params = double(nn::make_model(spec)->num_parameters());
  CHECK(e.parameters == params);
  CHECK(e.model_bytes == doctest::Approx(params * 12));  // weights, gradients, momentum
  CHECK(e.activation_bytes > 64 * 784 * 4);
  CHECK(e.host_bytes() == doctest::Approx(e.batch_bytes * 4 + e.model_bytes + e.activation_bytes));

  // Without momentum there is no momentum buffer; a center_crop sizes the batch.
  const MemoryEstimate f =
      estimate({"optimizer.momentum=0", "augment.ops.+0={op=\"center_crop\", size=100}"}, data);
  CHECK(f.model_bytes == doctest::Approx(f.parameters * 8));
  CHECK(f.sample_shape == "1x100x100 f32");
}

TEST_CASE("a config that cannot fit in memory is refused at setup with the estimate and limit") {
  REQUIRE(available_memory());
  TempData data;
  std::string refusal;
  const std::size_t rss_before = testing::peak_rss_bytes();
  const MemoryEstimate e = estimate(
      {"model.widths=[8192, 8192, 8192]", "model.stage_blocks=[1024, 1024, 1024]"}, data, &refusal);
  CHECK(testing::peak_rss_bytes() - rss_before < (std::size_t{64} << 20));  // nothing allocated
  CHECK(e.parameters > 1e12);
  CHECK(refusal.find("mem.toml: this run needs an estimated ") == 0);
  CHECK(refusal.find(" TiB of memory but ") != std::string::npos);
  CHECK(refusal.find(" is available (") != std::string::npos);
  CHECK(refusal.find("parameters with their gradients and momentum") != std::string::npos);
  CHECK(refusal.find("Lower [model] widths") != std::string::npos);

  // The default run fits (the build machine has a few hundred MB to spare).
  refusal.clear();
  estimate({}, data, &refusal);
  CHECK(refusal.empty());
}

// stages/metrics: summary.json keeps its numbers and ends with the list of the cuDNN algorithms
// that ran without a determinism guarantee (kernels/nn/cuda/conv_algorithms.hpp's record).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "kernels/nn/cuda/conv_algorithms.hpp"
#include "kernels/nn/cuda/device.hpp"
#include "pipeline/registry.hpp"

using namespace ft;
namespace fs = std::filesystem;

namespace {

std::string summary_of(const std::string& device) {
  const fs::path dir =
      fs::temp_directory_path() / ("ft_metrics_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const StageKind* kind = builtin_registry().find("metrics");
  REQUIRE(kind);
  auto metrics = kind->make(Params(toml::table{}, "metrics", "t.toml", &kind->params));
  RunContext ctx;
  ctx.run_dir = dir;
  ctx.device = device;
  ctx.quiet = true;
  metrics->setup(ctx);
  metrics->finish(ctx);
  std::ifstream in(dir / "summary.json");
  std::stringstream text;
  text << in.rdbuf();
  fs::remove_all(dir);
  return text.str();
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

TEST_CASE("summary.json ends with the nondeterministic algorithms a GPU run used") {
  const std::string cpu = summary_of("cpu");
  CHECK(cpu.find("\"device\": \"cpu\"") != std::string::npos);
  CHECK(cpu.find("\"val_top1\": ") != std::string::npos);
  CHECK(ends_with(cpu, ", \"nondeterministic_algorithms\": []}\n"));

  ft::nn::cuda::nondeterministic_record().note(
      "conv2d 3->8 k3 s1 g1 on (2, 3, 8, 8), forward algorithm 1");
  ft::nn::cuda::nondeterministic_record().note(
      "conv2d 8->8 k3 s1 g1 on (2, 8, 8, 8), backward-filter algorithm 0");
  if (ft::nn::cuda::nondeterministic_algorithms().empty()) return;  // built without CUDA
  CHECK(ends_with(summary_of("cpu"), ", \"nondeterministic_algorithms\": []}\n"));
  CHECK(ends_with(summary_of("cuda"),
                  ", \"nondeterministic_algorithms\": [\"conv2d 3->8 k3 s1 g1 on (2, 3, 8, 8), "
                  "forward algorithm 1\", \"conv2d 8->8 k3 s1 g1 on (2, 8, 8, 8), backward-filter "
                  "algorithm 0\"]}\n"));
}

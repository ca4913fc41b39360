// The whole data path (read_files -> decode_jpeg -> augment -> batch) on real Fashion-MNIST
// JPEGs: identical batches, byte for byte, with 1 and 2 threads; a new epoch gives a new order
// and new augmentation draws; the in-flight bound holds with real stages.
#include <doctest/doctest.h>
#include <tbb/global_control.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "kernels/augment/pixel.hpp"
#include "pipeline/config.hpp"
#include "pipeline/runtime.hpp"
#include "stages/source/import_fashion_mnist.hpp"

using namespace ft;
namespace fs = std::filesystem;

namespace {

struct Captured {
  std::vector<std::int64_t> index;
  std::vector<float> input;
};
std::mutex g_mu;
std::map<std::uint64_t, Captured> g_batches;

class Capture final : public Stage {
 public:
  void run(Batch& b) override {
    std::lock_guard lock(g_mu);
    g_batches[b.seq] = Captured{b.index, b.input.data};
  }
};

const fs::path& dataset() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / "ft_data_path_test";
    import_fashion_mnist(kFashionMnistIdxDir, d, 300);
    return d;
  }();
  return dir;
}

std::map<std::uint64_t, Captured> run_epoch(int threads, int epoch,
                                            const std::string& dtype = "f32") {
  const std::string d = dataset().string();
  const std::string text =
      "[run]\nseed = 7\n[data]\ntrain = { format = \"csv\", images = \"" + d +
      "/train\", labels = \"" + d +
      "/train.csv\" }\n"
      "[[stage]]\nid = \"read\"\nkind = \"read_files\"\nbatch_size = 32\n"
      "[[stage]]\nid = \"decode\"\nkind = \"decode_jpeg\"\nafter = \"read\"\n"
      "[[stage]]\nid = \"augment\"\nkind = \"augment\"\nafter = \"decode\"\n"
      "ops = [ { op = \"random_crop\", size = 28, padding = 2 }, { op = \"hflip\", p = 0.5 },"
      " { op = \"rotate\", degrees = 10.0 }, { op = \"normalize\", mean = [0.286], std = [0.353], "
      "dtype = \"" +
      dtype +
      "\" } ]\n"
      "[[stage]]\nid = \"batch\"\nkind = \"batch\"\nafter = \"augment\"\n"
      "[[stage]]\nid = \"capture\"\nkind = \"capture\"\nafter = \"batch\"\n";
  Registry registry = builtin_registry();
  StageKind cap;
  cap.name = "capture";
  cap.doc = "test";
  cap.serial = true;
  cap.access = [](const Params&) { return Access{{"input", "index"}, {}}; };
  cap.make = [](const Params&) { return std::make_unique<Capture>(); };
  registry.add(cap);
  Config cfg = parse_config(text, "determinism.toml");
  ResolvedGraph g = resolve_graph(cfg, registry);
  RunContext ctx;
  ctx.config = &cfg.root;
  ctx.seed = 7;
  ctx.threads = threads;
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism,
                         static_cast<std::size_t>(threads));
  g_batches.clear();
  Pipeline p(g, ctx, 3);
  p.setup();
  CHECK(p.run_pass(Split::train, epoch) == 10);  // 300 / 32, last batch partial
  CHECK(p.peak_in_flight() <= 3);
  return g_batches;
}

}  // namespace

TEST_CASE("same seed: identical batches with 1 and 2 threads; a new epoch reorders and redraws") {
  const auto one = run_epoch(1, 1);
  const auto two = run_epoch(2, 1);
  REQUIRE(one.size() == 10);
  REQUIRE(two.size() == 10);
  for (const auto& [seq, b] : one) {
    CHECK(b.index == two.at(seq).index);
    REQUIRE(b.input.size() == two.at(seq).input.size());
    CHECK(std::memcmp(b.input.data(), two.at(seq).input.data(), b.input.size() * sizeof(float)) ==
          0);
  }
  CHECK(one.at(9).index.size() == 300 - 9 * 32);
  CHECK(one.at(0).input.size() == 32u * 28 * 28);

  const auto next = run_epoch(2, 2);
  CHECK(next.at(0).index != one.at(0).index);
  // Every sample appears exactly once per epoch.
  std::vector<int> seen(300, 0);
  for (const auto& [seq, b] : next)
    for (auto i : b.index) ++seen.at(static_cast<std::size_t>(i));
  for (int s : seen) CHECK(s == 1);
}

TEST_CASE(
    "normalize to bf16: the model input is the f32 path's input rounded to bf16, widened exactly") {
  const auto f32 = run_epoch(2, 1), bf16 = run_epoch(2, 1, "bf16");
  REQUIRE(f32.size() == bf16.size());
  std::size_t elements = 0, changed = 0;
  for (const auto& [seq, f] : f32) {
    const Captured& h = bf16.at(seq);
    CHECK(h.index == f.index);
    REQUIRE(h.input.size() == f.input.size());
    for (std::size_t e = 0; e < f.input.size(); ++e) {
      REQUIRE(h.input[e] == ft::aug::bf16_to_f32(ft::aug::f32_to_bf16(f.input[e])));
      changed += h.input[e] != f.input[e];
    }
    elements += f.input.size();
  }
  CHECK(changed > elements / 2);  // the rounding really happened
}

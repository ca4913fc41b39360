// The GPU path's cost fixes, checked without a GPU. The reductions of reductions.cuh run as host
// code under tests/cuda_block_emulation.hpp (real threads and barriers per block, so their
// shared-memory trees run as written): channel sums split over N*H*W equal the CPU convolution's
// bias gradient within float rounding, and bit for bit a sequential model of their fixed order
// (deterministic by construction); the one-launch gradient norm equals per-tensor sums of squares
// in double. Also in plain C++: cuDNN algorithm ranking and fallback (conv_algorithms.hpp), and
// that only the convolutions reading the images are told to skip their input gradient.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

// clang-format off: the emulation must come before the kernel headers
#include "tests/cuda_block_emulation.hpp"
// clang-format on
#include "kernels/nn/cuda/conv_algorithms.hpp"
#include "kernels/nn/cuda/reductions.cuh"
#include "kernels/nn/model.hpp"
#include "kernels/nn/module.hpp"
#include "tests/kernels/nn/channel_sums_order.hpp"

using namespace ft::nn;
namespace kc = ft::nn::cuda;

namespace {

std::vector<float> random_floats(std::size_t n, std::uint32_t seed, float lo = -2.f,
                                 float hi = 2.f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The two channel-sum kernels on (n, channels, hw) data: sums[c] += channel c's sum.
void emulated_channel_sums(std::vector<float>& sums, const std::vector<float>& m, int n,
                           int channels, std::int64_t hw, const kc::ChannelSumsPlan& plan,
                           unsigned threads) {
  std::vector<float> partial(std::size_t{plan.chunks} * channels, -1.f);
  emulate_block_launch(plan.chunks, static_cast<unsigned>(channels), threads, [&] {
    kc::channel_sums_partial(partial.data(), m.data(), channels, hw, n * hw, plan.chunk);
  });
  emulate_block_launch(2, 1, 8, [&] {
    kc::channel_sums_finish(sums.data(), partial.data(), channels, plan.chunks);
  });
}

// The CPU convolution's bias gradient for dy (n, channels, h, w): the oneDNN reference.
std::vector<float> cpu_bias_grad(const std::vector<float>& dy, int n, int channels, int h, int w) {
  Conv2dSpec spec = conv2d_spec(2, channels, 1, 1, 0, true, 1);
  ModulePtr conv = cpu_layers(false).conv2d(spec);
  conv->setup(Shape{n, 2, h, w});
  std::vector<Parameter*> params;
  std::vector<Buffer*> buffers;
  conv->collect("", params, buffers);
  const std::vector<float> x(static_cast<std::size_t>(n) * 2 * h * w, 0.5f);
  conv->forward(x.data(), true);
  conv->backward(dy.data());
  for (Parameter* p : params)
    if (p->role == ParamRole::bias) return p->grad;
  FAIL("no bias");
  return {};
}

}  // namespace

TEST_CASE("plan_channel_sums covers each channel once in runs sized for about 1024 blocks") {
  struct Case {
    std::int64_t per_channel;
    int channels;
  };
  for (const Case c : {Case{128 * 32 * 32, 64}, Case{128 * 7 * 7, 512}, Case{3, 1},
                       Case{256 * 112 * 112, 64}, Case{1000, 65535}}) {
    const kc::ChannelSumsPlan p = kc::plan_channel_sums(c.per_channel, c.channels);
    CAPTURE(c.per_channel);
    CAPTURE(c.channels);
    CHECK(p.chunk >= 1);
    CHECK((p.chunks - 1) * p.chunk < c.per_channel);  // no empty run
    CHECK(p.chunks * p.chunk >= c.per_channel);       // nothing left out
    if (p.chunks > 1) CHECK(p.chunk % kc::kReduceThreads == 0);
    // Enough blocks to fill a GPU whenever the tensor has the work for it.
    if (c.per_channel * c.channels >= kc::kChannelSumsBlocks * kc::kChannelSumsMinChunk)
      CHECK(std::int64_t{p.chunks} * c.channels >= kc::kChannelSumsBlocks * 9 / 10);
  }
  CHECK_THROWS_AS(kc::plan_channel_sums(10, 70000), std::invalid_argument);  // gridDim.y limit
}

TEST_CASE("emulated channel sums over N*H*W equal the CPU bias gradient and repeat bit for bit") {
  struct Case {
    int n, channels, h, w;
    std::int64_t target_blocks, min_chunk;  // small ones force many runs per channel
    unsigned threads;
  };
  for (const Case c : {Case{3, 5, 6, 7, 40, 16, 32}, Case{4, 3, 9, 11, 1024, 1024, 64},
                       Case{2, 4, 33, 31, 8, 64, 256}, Case{5, 2, 1, 1, 1024, 1024, 16}}) {
    const std::int64_t hw = std::int64_t{c.h} * c.w;
    const std::vector<float> dy =
        random_floats(static_cast<std::size_t>(c.n * c.channels * hw), 21);
    const kc::ChannelSumsPlan plan =
        kc::plan_channel_sums(c.n * hw, c.channels, c.target_blocks, c.min_chunk);
    CAPTURE(c.n);
    CAPTURE(c.channels);
    CAPTURE(hw);
    CAPTURE(plan.chunks);
    std::vector<float> sums(static_cast<std::size_t>(c.channels), 0.f);
    emulated_channel_sums(sums, dy, c.n, c.channels, hw, plan, c.threads);
    // A fixed order regardless of which thread runs when: equal to the sequential model.
    CHECK(same_bits(sums, ft::nn::test::channel_sums_in_kernel_order(dy, c.n, c.channels, hw, plan,
                                                                     c.threads)));
    std::vector<float> again(static_cast<std::size_t>(c.channels), 0.f);
    emulated_channel_sums(again, dy, c.n, c.channels, hw, plan, c.threads);
    CHECK(same_bits(sums, again));
    // oneDNN adds in its own order: within float rounding of the magnitudes summed.
    const std::vector<float> want = cpu_bias_grad(dy, c.n, c.channels, c.h, c.w);
    for (int ch = 0; ch < c.channels; ++ch) {
      double magnitude = 0;
      for (int b = 0; b < c.n; ++b)
        for (std::int64_t k = 0; k < hw; ++k)
          magnitude += std::fabs(dy[static_cast<std::size_t>((b * c.channels + ch) * hw + k)]);
      CHECK(std::fabs(sums[ch] - want[ch]) <= 1e-6 * magnitude);
    }
    // Accumulates onto the existing gradient, as every backward must.
    std::vector<float> twice = sums;
    emulated_channel_sums(twice, dy, c.n, c.channels, hw, plan, c.threads);
    for (int ch = 0; ch < c.channels; ++ch) CHECK(twice[ch] == sums[ch] + sums[ch]);
  }
}

TEST_CASE("emulated multi-tensor squared norm equals per-tensor sums of squares in double") {
  // Sizes around the chunk (100 here, to force many): empty, one element, exact multiples,
  // remainders; values of very different scales.
  const std::vector<std::size_t> sizes = {0, 1, 100, 250, 37, 0, 1000, 199};
  std::vector<std::vector<float>> tensors;
  std::vector<std::pair<float*, std::int64_t>> list;
  double want = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const float scale = i % 2 ? 1e-3f : 30.f;
    tensors.push_back(random_floats(sizes[i], 30 + static_cast<std::uint32_t>(i), -scale, scale));
  }
  for (auto& t : tensors) {
    double per_tensor = 0;  // the single-tensor kernel's quantity, summed over tensors as before
    for (float v : t) per_tensor += static_cast<double>(v) * v;
    want += per_tensor;
    list.emplace_back(t.data(), static_cast<std::int64_t>(t.size()));
  }
  const std::vector<kc::TensorChunk> chunks = kc::split_into_chunks(list, 100);
  CHECK(chunks.size() == 1 + 1 + 3 + 1 + 10 + 2);
  for (const unsigned max_blocks : {1u, 4u, 512u}) {  // 4 < chunks: blocks take several
    const unsigned blocks = kc::multi_tensor_blocks(chunks.size(), max_blocks);
    CAPTURE(blocks);
    std::vector<double> block_sums(blocks, -1.0);
    unsigned ticket = 0;
    double got = -1, first = -1;
    for (int launch = 0; launch < 2; ++launch) {  // the ticket re-arms: a second launch works
      emulate_block_launch(blocks, 1, 32, [&] {
        kc::multi_tensor_squared_norm(&got, block_sums.data(), &ticket, chunks.data(),
                                      static_cast<int>(chunks.size()));
      });
      CHECK(ticket == 0);
      if (launch == 0) first = got;
    }
    CHECK(std::memcmp(&got, &first, sizeof got) == 0);
    // Another order of double additions: within double rounding.
    CHECK(std::fabs(got - want) <= 1e-12 * want);
  }
}

TEST_CASE("emulated multi-tensor scale equals scaling each tensor") {
  std::vector<float> a = random_floats(333, 40), b = random_floats(70, 41);
  const std::vector<float> a0 = a, b0 = b;
  const std::vector<kc::TensorChunk> chunks =
      kc::split_into_chunks({{a.data(), 333}, {b.data(), 70}}, 64);
  const float coef = 0.37f;
  emulate_block_launch(kc::multi_tensor_blocks(chunks.size(), 3), 1, 16, [&] {
    kc::multi_tensor_scale(chunks.data(), static_cast<int>(chunks.size()), coef);
  });
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(a[i] == a0[i] * coef);
  for (std::size_t i = 0; i < b.size(); ++i) CHECK(b[i] == b0[i] * coef);
}

TEST_CASE("split_into_chunks keeps tensor order and covers every element once") {
  std::vector<float> a(10), b(3);
  const auto chunks = kc::split_into_chunks({{a.data(), 10}, {nullptr, 0}, {b.data(), 3}}, 4);
  REQUIRE(chunks.size() == 4);
  CHECK(chunks[0].data == a.data());
  CHECK(chunks[0].n == 4);
  CHECK(chunks[2].data == a.data() + 8);
  CHECK(chunks[2].n == 2);
  CHECK(chunks[3].data == b.data());
  CHECK(chunks[3].n == 3);
  CHECK(kc::multi_tensor_blocks(0) == 0);
  CHECK(kc::multi_tensor_blocks(100000) == kc::kMultiTensorBlocks);
}

// ---- cuDNN algorithm choice (conv_algorithms.hpp) ---------------------------------------------

namespace {
kc::ListedAlgorithm listed(int algo, bool deterministic, bool tensor_ops = false,
                           bool usable = true, bool fp16 = false) {
  kc::ListedAlgorithm a;
  a.algo = algo;
  a.deterministic = deterministic;
  a.tensor_ops = tensor_ops;
  a.usable = usable;
  a.fp16_conversion = fp16;
  return a;
}
std::vector<int> algos(const std::vector<kc::ListedAlgorithm>& v) {
  std::vector<int> out;
  for (const auto& a : v) out.push_back(a.algo);
  return out;
}
}  // namespace

TEST_CASE(
    "rank_algorithms: heuristic order, deterministic first, no FP16 conversion, TF32 only "
    "when allowed") {
  const std::vector<kc::ListedAlgorithm> list = {
      listed(7, false),       listed(1, true, true),
      listed(2, true),        listed(3, true, false, false),
      listed(4, false, true), listed(5, true, true, true, true),
      listed(6, true)};
  CHECK(algos(kc::rank_algorithms(list, false)) == std::vector<int>{2, 6, 7});
  CHECK(algos(kc::rank_algorithms(list, true)) == std::vector<int>{1, 2, 6, 7, 4});
  CHECK(kc::rank_algorithms({listed(3, true, false, false)}, true).empty());
}

TEST_CASE("run_first_that_works falls back to the next algorithm and throws only when all fail") {
  const std::vector<kc::ListedAlgorithm> ranked = {listed(0, true), listed(1, true),
                                                   listed(2, false)};
  std::vector<int> tried;
  SUBCASE("the first works") {
    CHECK(kc::run_first_that_works(ranked, 0, "conv", "", [&](const kc::ListedAlgorithm& a) {
            tried.push_back(a.algo);
            return std::string();
          }) == 0);
    CHECK(tried == std::vector<int>{0});
  }
  SUBCASE("failures move on, in order, from where the last call stopped") {
    const auto attempt = [&](const kc::ListedAlgorithm& a) {
      tried.push_back(a.algo);
      return a.algo < 2 ? std::string("CUDNN_STATUS_EXECUTION_FAILED") : std::string();
    };
    CHECK(kc::run_first_that_works(ranked, 0, "conv", "", attempt) == 2);
    CHECK(tried == std::vector<int>{0, 1, 2});
    tried.clear();
    CHECK(kc::run_first_that_works(ranked, 2, "conv", "", attempt) == 2);
    CHECK(tried == std::vector<int>{2});
  }
  SUBCASE("all fail: the error names the layer and every status") {
    const auto attempt = [&](const kc::ListedAlgorithm& a) {
      return a.algo == 1 ? std::string("workspace of 99 bytes: out of memory")
                         : std::string("CUDNN_STATUS_NOT_SUPPORTED");
    };
    std::string msg;
    try {
      kc::run_first_that_works(ranked, 0, "conv2d 3->8 k3 s1 g1 on (2, 3, 8, 8), forward",
                               " without TF32", attempt);
    } catch (const std::runtime_error& e) {
      msg = e.what();
    }
    CHECK(msg.find("conv2d 3->8 k3 s1 g1 on (2, 3, 8, 8), forward") != std::string::npos);
    CHECK(msg.find("without TF32") != std::string::npos);
    CHECK(msg.find("algorithm 0: CUDNN_STATUS_NOT_SUPPORTED") != std::string::npos);
    CHECK(msg.find("algorithm 1: workspace of 99 bytes") != std::string::npos);
    CHECK(msg.find("algorithm 2: CUDNN_STATUS_NOT_SUPPORTED") != std::string::npos);
  }
  SUBCASE("nothing listed") {
    CHECK_THROWS_WITH_AS(
        kc::run_first_that_works({}, 0, "conv", " without TF32",
                                 [](const kc::ListedAlgorithm&) { return std::string(); }),
        doctest::Contains("no usable algorithm without TF32"), std::runtime_error);
  }
}

TEST_CASE("the nondeterministic record keeps each entry once, in first-use order") {
  kc::AlgorithmRecord record;
  record.note("conv2d a, backward-filter algorithm 0");
  record.note("conv2d b, backward-data algorithm 1");
  record.note("conv2d a, backward-filter algorithm 0");
  CHECK(record.entries() == std::vector<std::string>{"conv2d a, backward-filter algorithm 0",
                                                     "conv2d b, backward-data algorithm 1"});
}

// ---- the first convolution's input gradient ---------------------------------------------------

namespace {

// A convolution that reports whether it was told to skip its input gradient and what its
// backward returned.
struct ConvReport {
  bool skipped = false, returned_grad = false;
};
class ProbedConv final : public Module {
 public:
  ProbedConv(ModulePtr inner, ConvReport* report) : inner_(std::move(inner)), report_(report) {}
  Shape setup(const Shape& in) override { return inner_->setup(in); }
  const float* forward(const float* x, bool training) override {
    return inner_->forward(x, training);
  }
  const float* backward(const float* dy) override {
    const float* dx = inner_->backward(dy);
    report_->returned_grad = dx != nullptr;
    return dx;
  }
  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>& buffers) override {
    inner_->collect(prefix, params, buffers);
  }
  void skip_input_grad() override {
    report_->skipped = true;
    inner_->skip_input_grad();
  }

 private:
  ModulePtr inner_;
  ConvReport* report_;
};

// The CPU layers, with every convolution probed.
class ProbedLayers final : public LayerFactory {
 public:
  mutable std::vector<std::unique_ptr<ConvReport>> convs;  // in construction order
  ModulePtr conv2d(const Conv2dSpec& spec) const override {
    convs.push_back(std::make_unique<ConvReport>());
    return std::make_unique<ProbedConv>(base().conv2d(spec), convs.back().get());
  }
  ModulePtr batch_norm(const BatchNormSpec& s) const override { return base().batch_norm(s); }
  ModulePtr linear(const LinearSpec& s) const override { return base().linear(s); }
  ModulePtr relu() const override { return base().relu(); }
  ModulePtr max_pool(const MaxPoolSpec& s) const override { return base().max_pool(s); }
  ModulePtr global_avg_pool() const override { return base().global_avg_pool(); }
  ModulePtr flatten() const override { return base().flatten(); }
  ModulePtr dropout(float p, int index) const override { return base().dropout(p, index); }
  std::unique_ptr<ResidualAdd> residual_add(bool relu) const override {
    return base().residual_add(relu);
  }
  ModulePtr to_layout(Layout layout) const override { return base().to_layout(layout); }

 private:
  static const LayerFactory& base() { return cpu_layers(false); }
};

}  // namespace

TEST_CASE("a model tells exactly the convolutions that read the images to skip dL/dx") {
  struct Case {
    const char* kind;
    std::vector<std::size_t> reading_images;  // construction indices
  };
  // resnet_small: the stem; mini_resnet: block 1's first conv (0) and its skip conv (2; 1 is the
  // main branch's second conv).
  for (const Case& c : {Case{"resnet_small", {0}}, Case{"mini_resnet", {0, 2}}}) {
    CAPTURE(c.kind);
    ModelSpec spec;
    spec.kind = c.kind;
    spec.num_classes = 3;
    spec.height = spec.width = 8;
    spec.blocks = 2;
    // Flatten size 16 * 2 * 2 = 64: the CPU Linear's backward crashes at 32 -> 4096 (oneDNN 2.6).
    spec.base_width = 8;
    spec.widths = {4, 8};
    spec.stage_blocks = {1, 1};
    ProbedLayers layers;
    auto model = make_model(spec, layers);
    const int n = 2;
    const std::vector<float> x = random_floats(static_cast<std::size_t>(n) * 3 * 8 * 8, 50);
    std::vector<float> logits(static_cast<std::size_t>(n) * 3), dlogits = random_floats(n * 3, 51);
    model->forward(x.data(), n, true, logits.data());
    model->backward(dlogits.data());
    REQUIRE(layers.convs.size() > c.reading_images.size());
    for (std::size_t i = 0; i < layers.convs.size(); ++i) {
      CAPTURE(i);
      const bool reads_images =
          std::find(c.reading_images.begin(), c.reading_images.end(), i) != c.reading_images.end();
      CHECK(layers.convs[i]->skipped == reads_images);
      CHECK(layers.convs[i]->returned_grad == !reads_images);
    }
  }
}

TEST_CASE("a convolution that skips dL/dx still gives the same parameter gradients") {
  const Shape in{2, 3, 9, 9};
  const Conv2dSpec spec = conv2d_spec(3, 5, 3, 2, 1, true, 1);
  ModulePtr full = cpu_layers(false).conv2d(spec), skipping = cpu_layers(false).conv2d(spec);
  skipping->skip_input_grad();
  std::vector<std::vector<Parameter*>> params(2);
  std::vector<Buffer*> buffers;
  full->collect("", params[0], buffers);
  skipping->collect("", params[1], buffers);
  for (std::size_t k = 0; k < params[0].size(); ++k)
    params[0][k]->value = params[1][k]->value =
        random_floats(params[0][k]->value.size(), 60 + static_cast<std::uint32_t>(k));
  const Shape out = full->setup(in);
  CHECK(skipping->setup(in) == out);
  const std::vector<float> x = random_floats(static_cast<std::size_t>(in.numel()), 61),
                           dy = random_floats(static_cast<std::size_t>(out.numel()), 62);
  full->forward(x.data(), true);
  skipping->forward(x.data(), true);
  CHECK(full->backward(dy.data()) != nullptr);
  CHECK(skipping->backward(dy.data()) == nullptr);
  for (std::size_t k = 0; k < params[0].size(); ++k)
    CHECK(same_bits(params[0][k]->grad, params[1][k]->grad));
}

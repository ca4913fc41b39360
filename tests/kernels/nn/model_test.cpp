// Model builder: parameter names/counts equal torchvision's, mini_resnet's flatten size follows
// the input, a training step runs and re-setup on a smaller last batch works.
#include "kernels/nn/model.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/nn/loss.hpp"
#include "kernels/random/philox.hpp"

using namespace ft::nn;

namespace {

ModelSpec spec_of(const char* kind, int classes, int c, int hw) {
  ModelSpec s;
  s.kind = kind;
  s.num_classes = classes;
  s.in_channels = c;
  s.height = s.width = hw;
  return s;
}

std::vector<float> random_input(std::int64_t n) {
  ft::rng::Philox g(3, 0, 0, 1);
  std::vector<float> v(n);
  for (float& x : v) x = g.uniform(-1.f, 1.f);
  return v;
}

}  // namespace

TEST_CASE("torchvision parameter counts at 1000 classes") {
  // Values from torchvision 0.14: sum(p.numel() for p in model.parameters()).
  CHECK(make_model(spec_of("resnet18", 1000, 3, 224))->num_parameters() == 11689512);
  CHECK(make_model(spec_of("resnet34", 1000, 3, 224))->num_parameters() == 21797672);
  CHECK(make_model(spec_of("resnet50", 1000, 3, 224))->num_parameters() == 25557032);
  CHECK(make_model(spec_of("resnext50_32x4d", 1000, 3, 224))->num_parameters() == 25028904);
}

TEST_CASE("parameter names follow torchvision's state_dict order") {
  auto m = make_model(spec_of("resnet18", 10, 3, 32));
  const auto params = m->parameters();
  REQUIRE(params.size() == 62);
  CHECK(params[0]->name == "conv1.weight");
  CHECK(params[1]->name == "bn1.weight");
  CHECK(params[3]->name == "layer1.0.conv1.weight");
  CHECK(m->find_parameter("layer2.0.downsample.0.weight") != nullptr);
  CHECK(m->find_parameter("layer2.0.downsample.1.bias") != nullptr);
  CHECK(params.back()->name == "fc.bias");
  const auto buffers = m->buffers();
  CHECK(buffers[0]->name == "bn1.running_mean");
  CHECK(buffers[2]->name == "bn1.num_batches_tracked");
}

TEST_CASE("mini_resnet: the seed's layout; flatten size follows the input") {
  ModelSpec s = spec_of("mini_resnet", 50, 3, 64);
  s.base_width = 4;  // small widths keep the test light; the structure is width-independent
  auto m = make_model(s);
  CHECK(m->find_parameter("conv1.0.weight")->shape == std::vector<std::int64_t>{4, 3, 3, 3});
  CHECK(m->find_parameter("conv6.4.running_mean") == nullptr);
  CHECK(m->find_parameter("skip6.weight")->shape == std::vector<std::int64_t>{128, 64, 1, 1});
  CHECK(m->find_parameter("head.0.weight")->shape == std::vector<std::int64_t>{4096, 128});
  CHECK(m->find_parameter("head.1.weight")->shape == std::vector<std::int64_t>{4096});
  CHECK(m->find_parameter("head.3.weight")->shape == std::vector<std::int64_t>{50, 4096});
  s.height = s.width = 224;
  CHECK(make_model(s)->find_parameter("head.0.weight")->shape ==
        std::vector<std::int64_t>{4096, 128 * 9});
  s.dropout = 0.2f;
  s.blocks = 7;
  s.height = s.width = 128;
  auto d = make_model(s);
  CHECK(d->find_parameter("head.1.weight")->shape == std::vector<std::int64_t>{4096, 256});
  CHECK(d->find_parameter("head.5.weight")->shape == std::vector<std::int64_t>{50, 4096});
  s.blocks = 9;  // the map reaches 1x1 after 6 pools at 64x64; later blocks do not pool
  s.base_width = 1;
  s.height = s.width = 64;
  s.dropout = 0.f;
  CHECK(make_model(s)->find_parameter("head.0.weight")->shape ==
        std::vector<std::int64_t>{4096, 256});
}

TEST_CASE("zero_init_residual zeroes the last BN weight of each block") {
  ModelSpec s = spec_of("resnet18", 10, 3, 32);
  s.zero_init_residual = true;
  auto m = make_model(s);
  for (float v : m->find_parameter("layer3.1.bn2.weight")->value) CHECK(v == 0.f);
  for (float v : m->find_parameter("layer3.1.bn1.weight")->value) CHECK(v == 1.f);
}

TEST_CASE("resnet_small trains: loss falls on a fixed batch; a smaller batch re-sets up") {
  ModelSpec s = spec_of("resnet_small", 10, 1, 28);
  auto m = make_model(s);
  CHECK(m->find_parameter("layer2.0.downsample.0.weight")->shape ==
        std::vector<std::int64_t>{32, 16, 1, 1});
  CHECK(m->find_parameter("layer1.0.downsample.0.weight") == nullptr);
  const int n = 16;
  const std::vector<float> x = random_input(std::int64_t{n} * 28 * 28);
  std::vector<std::int32_t> y(n);
  for (int i = 0; i < n; ++i) y[i] = i % 10;
  std::vector<float> logits(n * 10), dlogits(n * 10);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    m->forward(x.data(), n, true, logits.data());
    last = cross_entropy_forward(logits.data(), y.data(), n, 10, 0.f);
    if (step == 0) first = last;
    cross_entropy_backward(dlogits.data(), logits.data(), y.data(), n, 10, 0.f);
    m->zero_grad();
    m->backward(dlogits.data());
    for (Parameter* p : m->parameters())
      for (std::size_t i = 0; i < p->value.size(); ++i) p->value[i] -= 0.05f * p->grad[i];
  }
  CHECK(std::isfinite(last));
  CHECK(last < 0.75 * first);  // fitting 16 noise samples: a wrong gradient would not descend
  m->forward(x.data(), 5, false, logits.data());  // last smaller batch, eval mode
  for (int i = 0; i < 50; ++i) CHECK(std::isfinite(logits[i]));
}

TEST_CASE("dropout: keyed by (seed, step), rate p, survivors scaled by 1/(1-p), identity in eval") {
  auto drop = cpu_layers().dropout(0.25f, 0);
  const Shape s{8, 500, 1, 1};
  drop->setup(s);
  const std::vector<float> x(s.numel(), 1.f);
  const auto run = [&](std::uint64_t seed, std::uint64_t step) {
    drop->set_dropout_key(seed, step);
    const float* y = drop->forward(x.data(), true);
    return std::vector<float>(y, y + s.numel());
  };
  const std::vector<float> a = run(1, 7), b = run(1, 7), c = run(1, 8);
  CHECK(a == b);
  CHECK(a != c);
  std::int64_t zeros = 0;
  for (float v : a) {
    CHECK((v == 0.f || v == doctest::Approx(1.f / 0.75f)));
    zeros += v == 0.f;
  }
  // 4000 Bernoulli(0.25) draws: mean 1000, standard deviation ~27; 5 sigma either way.
  CHECK(zeros > 1000 - 137);
  CHECK(zeros < 1000 + 137);
  CHECK(drop->forward(x.data(), false) == x.data());
}

TEST_CASE("a batch-size change re-runs setup and gives the same per-sample results (eval mode)") {
  ModelSpec s = spec_of("resnet18", 10, 3, 32);
  auto m = make_model(s);
  const std::vector<float> x = random_input(std::int64_t{6} * 3 * 32 * 32);
  std::vector<float> six(60), two(20), six_again(60);
  m->forward(x.data(), 6, false, six.data());
  m->forward(x.data(), 2, false, two.data());
  m->forward(x.data(), 6, false, six_again.data());
  for (int i = 0; i < 20; ++i)
    CHECK(two[i] ==
          doctest::Approx(six[i]).epsilon(1e-5));  // kernels may block differently per batch
  CHECK(six_again == six);
}

// The pipeline's serial stages move between TBB workers, so a model's primitives are created on
// one thread and run on others. oneDNN's default (library) scratchpad is per thread, sized when
// a primitive is created on it: running on a thread that created nothing crashed (resnext50 at
// 32 px on 2 threads). Each step here runs on a fresh thread and must match the same steps run
// on one thread, bit for bit.
TEST_CASE("a model's steps on threads other than the one that set it up (user scratchpad)") {
  const auto spec = spec_of("resnext50_32x4d", 4, 3, 32);
  const int n = 4;
  const auto x = random_input(std::int64_t{n} * 3 * 32 * 32);
  const std::vector<std::int32_t> labels{0, 1, 2, 3};
  const auto steps = [&](bool fresh_threads) {
    auto model = make_model(spec);
    std::vector<float> logits(n * 4), dlogits(n * 4), loss(n);
    const auto step = [&] {
      model->zero_grad();
      model->forward(x.data(), n, true, logits.data());
      cross_entropy_forward(logits.data(), labels.data(), n, 4, 0.f, loss.data());
      cross_entropy_backward(dlogits.data(), logits.data(), labels.data(), n, 4, 0.f);
      model->backward(dlogits.data());
    };
    for (int i = 0; i < 3; ++i) {
      if (fresh_threads)
        std::thread(step).join();
      else
        step();
    }
    std::vector<float> grads;
    for (const Parameter* p : model->parameters())
      grads.insert(grads.end(), p->grad.begin(), p->grad.end());
    return grads;
  };
  const auto same = steps(false), moved = steps(true);
  REQUIRE(same.size() == moved.size());
  CHECK(std::memcmp(same.data(), moved.data(), same.size() * sizeof(float)) == 0);
}

// Each CPU layer's forward and backward against PyTorch 1.13 (tests/fixtures/nn/layers.bin):
// y, dx, parameter gradients and batch-norm running statistics after one training step.
#include <doctest/doctest.h>

#include <vector>

#include "kernels/nn/loss.hpp"
#include "kernels/nn/module.hpp"
#include "tests/kernels/nn/fixture.hpp"

using namespace ft::nn;
using ft::nn::testing::close;
using ft::nn::testing::Fixture;

namespace {

// f32 on both sides with different summation orders (oneDNN's blocked kernels vs PyTorch's):
// a few ulps per product, accumulated over <= 150 terms in these small shapes.
constexpr double kLayerTol = 1e-5;

const Fixture& fixture() {
  static const Fixture f("layers.bin");
  return f;
}

Shape shape_of(const std::vector<std::int64_t>& d) {
  Shape s{int(d[0]), int(d[1]), 1, 1};
  if (d.size() == 4) {
    s.h = int(d[2]);
    s.w = int(d[3]);
  }
  return s;
}

void run_case(const std::string& name, Module& m, bool training = true) {
  const Fixture& f = fixture();
  std::vector<Parameter*> params;
  std::vector<Buffer*> buffers;
  m.collect("", params, buffers);
  for (Parameter* p : params) {
    p->value = f.data(name + "/" + p->name);
    std::fill(p->grad.begin(), p->grad.end(), 0.f);
  }
  const Shape in = shape_of(f.at(name + "/x").dims);
  m.setup(in);
  const float* y = m.forward(f.data(name + "/x").data(), training);
  CHECK(close(name + "/y", y, f.data(name + "/y"), kLayerTol));
  const float* dx = m.backward(f.data(name + "/dy").data());
  CHECK(close(name + "/dx", dx, f.data(name + "/dx"), kLayerTol));
  for (Parameter* p : params)
    CHECK(close(name + "/d" + p->name, p->grad.data(), f.data(name + "/d" + p->name), kLayerTol));
  for (Buffer* b : buffers)
    if (f.has(name + "/" + b->name))
      CHECK(close(name + "/" + b->name, b->value.data(), f.data(name + "/" + b->name), kLayerTol));
}

Conv2dSpec conv(int in, int out, int k, int stride, int pad, bool bias = true, int groups = 1) {
  return conv2d_spec(in, out, k, stride, pad, bias, groups);
}

}  // namespace

TEST_CASE("layers vs PyTorch: conv2d") {
  const auto& L = cpu_layers();
  run_case("conv_3x3_s1_p1", *L.conv2d(conv(3, 4, 3, 1, 1)));
  run_case("conv_3x3_s2_p1_nobias", *L.conv2d(conv(4, 6, 3, 2, 1, false)));
  run_case("conv_g2", *L.conv2d(conv(4, 6, 3, 1, 1, true, 2)));
  run_case("conv_7x7_s2_p3", *L.conv2d(conv(3, 8, 7, 2, 3, false)));
  Conv2dSpec same = conv(2, 3, 4, 1, 0);
  same.same_padding = true;
  run_case("conv_same_k4", *L.conv2d(same));
  run_case("conv_1x1_s2", *L.conv2d(conv(4, 8, 1, 2, 0, false)));
}

TEST_CASE("layers vs PyTorch: batch norm train (2d, 1d) and eval") {
  const auto& L = cpu_layers();
  run_case("bn2d", *L.batch_norm(BatchNormSpec{3}));
  run_case("bn1d", *L.batch_norm(BatchNormSpec{5}));
  auto bn = L.batch_norm(BatchNormSpec{3});
  std::vector<Parameter*> params;
  std::vector<Buffer*> buffers;
  bn->collect("", params, buffers);
  buffers[0]->value = fixture().data("bn2d_eval/running_mean_in");
  buffers[1]->value = fixture().data("bn2d_eval/running_var_in");
  run_case("bn2d_eval", *bn, false);
}

TEST_CASE("layers vs PyTorch: linear, relu, max pool, global average pool") {
  const auto& L = cpu_layers();
  run_case("linear", *L.linear(LinearSpec{12, 5, true}));
  run_case("relu", *L.relu());
  run_case("maxpool_2", *L.max_pool(MaxPoolSpec{2, 2, 0}));
  run_case("maxpool_3_s2_p1", *L.max_pool(MaxPoolSpec{3, 2, 1}));
  run_case("avgpool", *L.global_avg_pool());
}

TEST_CASE("cross-entropy with label smoothing 0.1 vs PyTorch") {
  const Fixture& f = fixture();
  const std::vector<float>& logits = f.data("ce/logits");
  std::vector<std::int32_t> labels;
  for (float v : f.data("ce/labels")) labels.push_back(std::int32_t(v));
  std::vector<float> per(5), d(35);
  const double loss = cross_entropy_forward(logits.data(), labels.data(), 5, 7, 0.1f, per.data());
  const float loss_f = float(loss);
  // Our loss runs in double; PyTorch's in f32: agreement to a few f32 ulps.
  CHECK(close("ce/loss", &loss_f, f.data("ce/loss"), 1e-6));
  CHECK(close("ce/per_sample", per.data(), f.data("ce/per_sample"), 1e-6));
  cross_entropy_backward(d.data(), logits.data(), labels.data(), 5, 7, 0.1f);
  CHECK(close("ce/dlogits", d.data(), f.data("ce/dlogits"), 1e-6));
}

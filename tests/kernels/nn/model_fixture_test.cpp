// Whole models against PyTorch 1.13 / torchvision 0.14
// (tests/fixtures/nn/{mini_resnet,resnet18}.bin): one training-mode forward on hash-generated
// weights and input, cross-entropy with label smoothing 0.1, backward; logits, loss, every
// parameter gradient (whole or as sum / sum of squares / sum of |x|), the batch-norm running
// statistics after the step and eval-mode logits.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/nn/loss.hpp"
#include "kernels/nn/model.hpp"
#include "tests/kernels/nn/fixture.hpp"

using namespace ft::nn;
using namespace ft::nn::testing;

namespace {

// Checks the sum / sum of squares / sum of |x| record "<name>#sum" of a tensor. The sum can
// cancel, so it is judged against sum|x|; the others against themselves.
bool close_summary(const Fixture& f, const std::string& name, const std::vector<float>& v,
                   double rtol, double atol) {
  double s = 0, ss = 0, sa = 0;
  for (float x : v) {
    s += x;
    ss += double(x) * x;
    sa += std::abs(x);
  }
  const auto& e = f.data(name + "#sum");
  const double n = double(v.size());
  const bool ok =
      std::abs(s - e[0]) <= rtol * e[2] + atol * n &&
      std::abs(std::sqrt(ss) - std::sqrt(e[1])) <= rtol * std::sqrt(e[1]) + atol * std::sqrt(n) &&
      std::abs(sa - e[2]) <= rtol * e[2] + atol * n;
  if (!ok)
    std::printf(
        "  %s: sum %.8g / %.8g, sum sq %.8g / %.8g, sum abs %.8g / %.8g (ours / PyTorch); "
        "regenerate: %s\n",
        name.c_str(), s, e[0], ss, e[1], sa, e[2], kRegenerate);
  return ok;
}

// atol: the biases of convolutions followed by batch norm have exactly zero gradient (the norm
// removes any constant); both sides give f32 rounding noise there, |g| ~ 1e-6, while real
// gradients in these models are >= 1e-4.
constexpr double kZeroGradNoise = 1e-5;

// tol: logits, loss, whole tensors; summary_tol: the sums / norms of every gradient and buffer.
void run_model(const ModelSpec& spec, const char* file, double tol, double summary_tol) {
  const Fixture f(file);
  auto model = make_model(spec);
  fill_model(model->parameters());
  const int n = 4;
  const std::vector<float> x =
      hash_vector(std::int64_t{n} * spec.in_channels * spec.height * spec.width, 7777);
  std::vector<std::int32_t> labels(n);
  for (int i = 0; i < n; ++i) labels[i] = i % spec.num_classes;
  std::vector<float> logits(n * spec.num_classes), dlogits(logits.size());
  model->forward(x.data(), n, true, logits.data());
  CHECK(close("logits", logits.data(), f.data("logits"), tol));
  const float loss =
      float(cross_entropy_forward(logits.data(), labels.data(), n, spec.num_classes, 0.1f));
  CHECK(close("loss", &loss, f.data("loss"), tol));
  cross_entropy_backward(dlogits.data(), logits.data(), labels.data(), n, spec.num_classes, 0.1f);
  model->zero_grad();
  model->backward(dlogits.data());
  int whole = 0;
  for (Parameter* p : model->parameters()) {
    const std::string name = "grad/" + p->name;
    if (f.has(name)) {
      CHECK(close(name, p->grad.data(), f.data(name), tol, kZeroGradNoise));
      ++whole;
    }
    CHECK(close_summary(f, name, p->grad, summary_tol, kZeroGradNoise));
  }
  CHECK(whole > 0);
  for (Buffer* b : model->buffers()) {
    if (b->name.ends_with("num_batches_tracked")) {
      CHECK(b->value[0] == 1.f);
      continue;
    }
    const std::string name = "buffer/" + b->name;
    if (f.has(name)) CHECK(close(name, b->value.data(), f.data(name), tol));
    CHECK(close_summary(f, name, b->value, summary_tol, 0));
  }
  std::vector<float> eval_logits(logits.size());
  model->forward(x.data(), n, false, eval_logits.data());
  CHECK(close("eval_logits", eval_logits.data(), f.data("eval_logits"), tol));
}

}  // namespace

// Tolerance: f32 through 10-20 layers with batch norm over 4 samples; different convolution
// algorithms and summation orders on each side differ by ~1e-6 relative per layer, and batch
// norm's division by a small batch standard deviation amplifies that.
TEST_CASE("mini_resnet (3 blocks, width 4, 3x16x16, 5 classes, batch 4) vs PyTorch") {
  ModelSpec s;
  s.kind = "mini_resnet";
  s.num_classes = 5;
  s.in_channels = 3;
  s.height = s.width = 16;
  s.blocks = 3;
  s.base_width = 4;
  run_model(s, "mini_resnet.bin", 1e-4, 1e-4);
}

TEST_CASE("resnet18 (3x32x32, 10 classes, batch 4) vs torchvision") {
  ModelSpec s;
  s.kind = "resnet18";
  s.num_classes = 10;
  s.in_channels = 3;
  s.height = s.width = 32;
  run_model(s, "resnet18.bin", 1e-4, 1e-4);
}

// ResNeXt-50 with these hash weights is badly conditioned: PyTorch's own f32 gradients differ
// from its f64 ones by up to 0.4 (elementwise, relative to the tensor's largest value) in
// layer4 and by 7e-3 in per-tensor sums and norms (batch norm over few values per channel
// divides by tiny deviations). So: logits, loss and fc gradients elementwise at 1e-3 (f32 vs
// f64 there: 7e-5 and 1e-4), every gradient's sum / norm / sum|g| at 2e-2. A wrong grouped
// convolution or block wiring moves those by O(1). 64x64 rather than 32x32 input: at 32x32 even
// the logits differ by 1e-3 between PyTorch's f32 and f64.
TEST_CASE("resnext50_32x4d (3x64x64, 10 classes, batch 4) vs torchvision: grouped bottlenecks") {
  ModelSpec s;
  s.kind = "resnext50_32x4d";
  s.num_classes = 10;
  s.in_channels = 3;
  s.height = s.width = 64;
  run_model(s, "resnext50_32x4d.bin", 1e-3, 2e-2);
}

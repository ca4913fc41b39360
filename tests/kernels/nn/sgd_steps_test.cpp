// Whole models plus the optimizer against PyTorch 1.13 (tests/fixtures/nn/sgd_steps.bin, written by
// tools/make_sgd_steps_fixture.py): mini_resnet and resnet18 trained 3 steps (hash weights, 3
// hash batches, cross-entropy with label smoothing 0.1, SGD lr 0.01, momentum 0.9, nesterov, weight
// decay 5e-4 with biases and batch-norm parameters in the no_decay group). Compares the 3 losses,
// every parameter and batch-norm buffer (sums / norms; a few whole) and every parameter's change.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "kernels/nn/loss.hpp"
#include "kernels/nn/model.hpp"
#include "kernels/optim/sgd.hpp"
#include "tests/kernels/nn/fixture.hpp"

using namespace ft::nn;
using namespace ft::nn::testing;

namespace {

constexpr const char* kRegenerateSteps = "/usr/bin/python3 tools/make_sgd_steps_fixture.py";

// FT_SGD_STEPS_VERBOSE=1 prints the largest measured error of each kind (how the tolerances
// below were chosen).
struct Worst {
  double rel = 0;  // max |a - e| / (|e| + max|e|)
  double abs = 0;  // max |a - e|
};
struct Measured {
  Worst loss;     // the 3 losses
  Worst values;   // whole parameter and buffer values
  Worst changes;  // whole parameters: final - initial value
  double summary =
      0;  // sums / norms of values and buffers: max error / (the scale it is judged against)
  double delta = 0;  // sums / norms of final - initial value, the same measure
};

void note(double& worst, double v) { worst = std::max(worst, v); }

// |a - e| <= rtol * (|e| + max|e|) + atol everywhere (the measure fixture.hpp's close() uses).
bool close_values(const std::string& what, const std::vector<double>& actual,
                  const std::vector<double>& expected, double rtol, double atol, Worst& m) {
  double scale = 0;
  for (double e : expected) scale = std::max(scale, std::abs(e));
  int bad = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double a = actual[i], e = expected[i], d = std::abs(a - e);
    note(m.abs, d);
    note(m.rel, d / (std::abs(e) + scale + 1e-30));
    if (!(d <= rtol * (std::abs(e) + scale) + atol)) {
      if (bad < 5) std::printf("  %s[%zu]: got %.9g, PyTorch %.9g\n", what.c_str(), i, a, e);
      ++bad;
    }
  }
  if (bad)
    std::printf("  %s: %d of %zu values differ (rtol %g, atol %g); regenerate: %s\n", what.c_str(),
                bad, expected.size(), rtol, atol, kRegenerateSteps);
  return bad == 0;
}

std::vector<double> widen(const float* v, std::size_t n) { return {v, v + n}; }

// Sum, sum of squares, sum of |x| (as make_nn_fixtures.py's Writer.add_summary) of v - base.
std::vector<double> summarize(const std::vector<float>& v,
                              const std::vector<float>* base = nullptr) {
  double s = 0, ss = 0, sa = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double x = double(v[i]) - (base ? double((*base)[i]) : 0.0);
    s += x;
    ss += x * x;
    sa += std::abs(x);
  }
  return {s, ss, sa};
}

// Against the record "<name>#sum": the sum can cancel, so it is judged against sum|x|; the L2 norm
// and sum|x| against themselves. atol is per element (n of them add up, or sqrt(n) in a norm).
bool close_summary(const Fixture& f, const std::string& name, const std::vector<double>& ours,
                   double count, double rtol, double atol, double& worst) {
  const auto& e = f.data(name + "#sum");
  const double sum_err = std::abs(ours[0] - e[0]),
               norm_err = std::abs(std::sqrt(ours[1]) - std::sqrt(double(e[1]))),
               abs_err = std::abs(ours[2] - e[2]);
  if (e[2] > 10 * atol * count) {  // not a noise-only tensor (whose relative error means nothing)
    note(worst, sum_err / double(e[2]));
    note(worst, norm_err / std::sqrt(double(e[1])));
    note(worst, abs_err / double(e[2]));
  }
  const bool ok = sum_err <= rtol * e[2] + atol * count &&
                  norm_err <= rtol * std::sqrt(double(e[1])) + atol * std::sqrt(count) &&
                  abs_err <= rtol * e[2] + atol * count;
  if (!ok)
    std::printf(
        "  %s: sum %.9g / %.9g, L2 norm %.9g / %.9g, sum|x| %.9g / %.9g (ours / PyTorch; rtol %g); "
        "regenerate: %s\n",
        name.c_str(), ours[0], double(e[0]), std::sqrt(ours[1]), std::sqrt(double(e[1])), ours[2],
        double(e[2]), rtol, kRegenerateSteps);
  return ok;
}

struct Tolerance {
  double loss;     // the 3 losses
  double values;   // whole parameter and buffer values
  double summary;  // sums / norms of every parameter and buffer
  double changes;  // final - initial value: whole, and the sums / norms of every parameter's
};

// The scenario of tools/make_sgd_steps_fixture.py.
constexpr int kSteps = 3, kBatch = 4;

ft::optim::SgdOptions sgd_options() {
  ft::optim::SgdOptions o;
  o.lr = 0.01;
  o.momentum = 0.9;
  o.nesterov = true;
  o.weight_decay = 5e-4;
  o.no_decay_bias = true;
  o.no_decay_norm = true;
  return o;
}

// Convolution biases right before a batch norm have zero gradient in exact arithmetic (the norm
// removes any constant), so their change over 3 steps is pure f32 noise on both sides:
// lr * (1 + 0.9 + ...) * ~1e-6. Per-element allowance for the sums of the changes.
constexpr double kDeltaNoise = 1e-6;

void run_steps(const ModelSpec& spec, const std::string& prefix, const Tolerance& tol) {
  const Fixture f("sgd_steps.bin");
  auto model = make_model(spec);
  fill_model(model->parameters());
  std::map<std::string, std::vector<float>> init;
  for (Parameter* p : model->parameters()) init[p->name] = p->value;
  ft::optim::Sgd sgd(model->parameters(), sgd_options());

  const int k = spec.num_classes;
  std::vector<double> losses;
  std::vector<float> logits(std::size_t(kBatch) * k), dlogits(logits.size());
  for (int step = 0; step < kSteps; ++step) {
    const std::vector<float> x = hash_vector(
        std::int64_t{kBatch} * spec.in_channels * spec.height * spec.width, 8000 + step);
    std::vector<std::int32_t> labels(kBatch);
    for (int i = 0; i < kBatch; ++i) labels[i] = (i * 3 + step) % k;
    sgd.zero_grad();
    model->forward(x.data(), kBatch, true, logits.data());
    losses.push_back(cross_entropy_forward(logits.data(), labels.data(), kBatch, k, 0.1f));
    cross_entropy_backward(dlogits.data(), logits.data(), labels.data(), kBatch, k, 0.1f);
    model->backward(dlogits.data());
    sgd.step();
  }
  CHECK(sgd.step_count() == kSteps);

  Measured m;
  {
    const auto& e = f.data(prefix + "loss");
    REQUIRE(e.size() == std::size_t(kSteps));
    CHECK(close_values(prefix + "loss", losses, widen(e.data(), e.size()), tol.loss, 0, m.loss));
  }
  int whole = 0;
  for (Parameter* p : model->parameters()) {
    const std::string name = prefix + "param/" + p->name;
    const std::vector<float>& start = init[p->name];
    if (f.has(name)) {
      const auto& e = f.data(name);
      REQUIRE(e.size() == p->value.size());
      CHECK(close_values(name, widen(p->value.data(), e.size()), widen(e.data(), e.size()),
                         tol.values, 0, m.values));
      // The change alone is a sharper test than the value (the update is a small part of it):
      // the fixture's value minus the same hash initial value, exact in double.
      std::vector<double> ours(e.size()), theirs(e.size());
      for (std::size_t i = 0; i < e.size(); ++i) {
        ours[i] = double(p->value[i]) - start[i];
        theirs[i] = double(e[i]) - start[i];
      }
      CHECK(close_values(prefix + "delta/" + p->name, ours, theirs, tol.changes, kDeltaNoise,
                         m.changes));
      ++whole;
    }
    const double count = double(p->value.size());
    CHECK(close_summary(f, name, summarize(p->value), count, tol.summary, 0, m.summary));
    CHECK(close_summary(f, prefix + "delta/" + p->name, summarize(p->value, &start), count,
                        tol.changes, kDeltaNoise, m.delta));
  }
  CHECK(whole >= 4);
  int whole_buffers = 0;
  for (Buffer* b : model->buffers()) {
    if (b->name.ends_with("num_batches_tracked")) {
      CHECK(b->value[0] == float(kSteps));
      continue;
    }
    const std::string name = prefix + "buffer/" + b->name;
    if (f.has(name)) {
      const auto& e = f.data(name);
      REQUIRE(e.size() == b->value.size());
      CHECK(close_values(name, widen(b->value.data(), e.size()), widen(e.data(), e.size()),
                         tol.values, 0, m.values));
      ++whole_buffers;
    }
    CHECK(close_summary(f, name, summarize(b->value), double(b->value.size()), tol.summary, 0,
                        m.summary));
  }
  CHECK(whole_buffers == 2);
  if (const char* v = std::getenv("FT_SGD_STEPS_VERBOSE"); v && *v == '1')
    std::printf(
        "%s measured: losses rel %.3g, values rel %.3g (abs %.3g), changes rel %.3g (abs %.3g), "
        "summaries rel %.3g, change summaries rel %.3g\n",
        prefix.c_str(), m.loss.rel, m.values.rel, m.values.abs, m.changes.rel, m.changes.abs,
        m.summary, m.delta);
}

}  // namespace

// Why lr 0.01 and resnet18 at 64x64 (not lr 0.1 / 32x32): with these hash weights PyTorch's own
// f32 and f64 runs of this scenario part by 0.2-0.4 (relative to each tensor's scale) in
// resnet18's weights at 32x32 for any lr from 0.001 to 0.1 and any batch up to 16, and lr 0.1
// drives both models' losses to 15-36 (diverging); no f32 implementation can be held to PyTorch
// there. At lr 0.01, 3x64x64 (mini_resnet 3x16x16), f32 vs f64 PyTorch differ by ~1e-6 in
// values and 1e-4 in the weights' changes (mini_resnet's head batch norm over 4 samples).
//
// Tolerances: a few times the largest error measured against the fixture over OMP_NUM_THREADS
// 1, 2 and 3 (FT_SGD_STEPS_VERBOSE=1 prints them): oneDNN and PyTorch sum convolutions and
// batch-norm statistics in different orders, and the thread count changes oneDNN's order too.
// Changes (final - initial) are judged against their own, smaller scale, hence the looser
// bound; PyTorch's f32-vs-f64 spread there is 1.5e-4 (mini_resnet) and 7e-5 (resnet18).
TEST_CASE(
    "mini_resnet (3 blocks, width 4, 3x16x16, 10 classes, batch 4): weights after 3 SGD steps vs "
    "PyTorch") {
  ModelSpec s;
  s.kind = "mini_resnet";
  s.num_classes = 10;
  s.in_channels = 3;
  s.height = s.width = 16;
  s.blocks = 3;
  s.base_width = 4;
  // Measured (1-3 threads): losses 6.5e-7, values 1.1e-5, sums/norms 1.7e-5, changes 3.7e-5
  // (whole) and 4.9e-5 (sums/norms).
  run_steps(s, "mini_resnet/", Tolerance{5e-6, 5e-5, 5e-5, 2e-4});
}

TEST_CASE("resnet18 (3x64x64, 10 classes, batch 4): weights after 3 SGD steps vs torchvision") {
  ModelSpec s;
  s.kind = "resnet18";
  s.num_classes = 10;
  s.in_channels = 3;
  s.height = s.width = 64;
  // Measured (1-3 threads): losses 7.8e-7, values 8.9e-7, sums/norms 3.7e-7, changes 5.3e-5
  // (whole) and 5.9e-6 (sums/norms).
  run_steps(s, "resnet18/", Tolerance{5e-6, 1e-5, 5e-6, 2e-4});
}

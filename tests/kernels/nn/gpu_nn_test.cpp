// GPU conformance of the CUDA layers (cuda_layers(): cuDNN, cuBLAS, own kernels) against the CPU
// layers (oneDNN), and of whole models and SGD steps against the CPU path. Built only with CUDA
// into test_nn_gpu, not registered with meson test (CI has no GPU): tools/gpu_check.sh runs it on
// a device. Each check prints its worst difference, so the log is the conformance record.
//
// Tolerances: elementwise layers, pooling and dropout are exact (the same float operations);
// convolution, Linear and batch norm reduce in another order (cuDNN / cuBLAS vs oneDNN), so they
// are compared relative to the largest reference magnitude: 1e-4 per layer, 2e-3 for a whole
// model's logits and gradients, and for weights after 5 SGD steps.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "kernels/nn/cuda/device.hpp"
#include "kernels/nn/loss.hpp"
#include "kernels/nn/model.hpp"
#include "kernels/optim/sgd.hpp"
#include "kernels/random/philox.hpp"

using namespace ft::nn;

namespace {

bool have_gpu() {
  std::string why;
  if (cuda::available(&why)) return true;
  MESSAGE("skipped: " << why);
  return false;
}

std::vector<float> random_vector(std::size_t n, std::uint64_t seed, float lo = -1.f,
                                 float hi = 1.f) {
  ft::rng::Philox g(seed, 0, n, 7);
  std::vector<float> v(n);
  for (float& x : v) x = g.uniform(lo, hi);
  return v;
}

std::vector<float> from_device(const float* p, std::size_t n) {
  std::vector<float> v(n);
  cuda::download(v.data(), p, n);
  return v;
}

// max |a - b| / max(max |b|, 1e-12); prints and checks against tol.
double compare(const std::string& what, const std::vector<float>& got,
               const std::vector<float>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double worst = 0, scale = 1e-12;
  for (float w : want) scale = std::max(scale, double(std::fabs(w)));
  for (std::size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, double(std::fabs(got[i] - want[i])));
  const double rel = worst / scale;
  std::printf("%-58s max|diff| %.3g (relative %.3g, tolerance %.3g)\n", what.c_str(), worst, rel,
              tol);
  CHECK_MESSAGE(rel <= tol, what);
  return rel;
}

// One layer built by both factories, the GPU one holding the CPU one's parameter values.
struct LayerPair {
  ModulePtr cpu, gpu;
  std::vector<Parameter*> pc, pg;
  std::vector<Buffer*> bc, bg;
};

LayerPair make_layer_pair(const std::function<ModulePtr(const LayerFactory&)>& make,
                          std::uint64_t seed) {
  LayerPair lp{make(cpu_layers(false)), make(cuda_layers()), {}, {}, {}, {}};
  lp.cpu->collect("", lp.pc, lp.bc);
  lp.gpu->collect("", lp.pg, lp.bg);
  REQUIRE(lp.pc.size() == lp.pg.size());
  for (std::size_t i = 0; i < lp.pc.size(); ++i) {
    lp.pc[i]->value = random_vector(lp.pc[i]->value.size(), seed + i, -0.5f, 0.5f);
    lp.pg[i]->value = lp.pc[i]->value;
    cuda::upload(lp.pg[i]->device_value, lp.pg[i]->value.data(), lp.pg[i]->value.size());
  }
  for (std::size_t i = 0; i < lp.bc.size(); ++i) {
    if (!lp.bg[i]->device_value) continue;
    lp.bc[i]->value = random_vector(lp.bc[i]->value.size(), seed + 100 + i, 0.5f, 1.5f);
    lp.bg[i]->value = lp.bc[i]->value;
    cuda::upload(lp.bg[i]->device_value, lp.bg[i]->value.data(), lp.bg[i]->value.size());
  }
  return lp;
}

// Forward (training or eval) and, in training, backward: outputs, input gradients and parameter
// gradients of the two layers.
void check_layer(const std::string& name, const std::function<ModulePtr(const LayerFactory&)>& make,
                 Shape in, double tol, bool training = true) {
  LayerPair lp = make_layer_pair(make, 11);
  const Shape out = lp.cpu->setup(in);
  const Shape out_gpu = lp.gpu->setup(in);
  REQUIRE(out.n == out_gpu.n);
  REQUIRE(out.numel() == out_gpu.numel());
  const auto x = random_vector(static_cast<std::size_t>(in.numel()), 3);
  cuda::DeviceArray dx_dev(x.size());
  cuda::upload(dx_dev.data(), x.data(), x.size());
  const float* yc = lp.cpu->forward(x.data(), training);
  const float* yg = lp.gpu->forward(dx_dev.data(), training);
  const auto n_out = static_cast<std::size_t>(out.numel());
  compare(name + " forward" + (training ? "" : " (eval)"), from_device(yg, n_out),
          std::vector<float>(yc, yc + n_out), tol);
  if (!training) return;
  const auto dy = random_vector(n_out, 5);
  cuda::DeviceArray ddy(n_out);
  cuda::upload(ddy.data(), dy.data(), n_out);
  const float* gc = lp.cpu->backward(dy.data());
  const float* gg = lp.gpu->backward(ddy.data());
  const auto n_in = static_cast<std::size_t>(in.numel());
  compare(name + " backward dx", from_device(gg, n_in), std::vector<float>(gc, gc + n_in), tol);
  for (std::size_t i = 0; i < lp.pc.size(); ++i)
    compare(name + " backward d" + lp.pc[i]->name,
            from_device(lp.pg[i]->device_grad, lp.pg[i]->grad.size()), lp.pc[i]->grad, tol);
  for (std::size_t i = 0; i < lp.bc.size(); ++i)
    if (lp.bg[i]->device_value)
      compare(name + " " + lp.bc[i]->name,
              from_device(lp.bg[i]->device_value, lp.bg[i]->value.size()), lp.bc[i]->value, tol);
}

}  // namespace

TEST_CASE("each CUDA layer matches the CPU layer, forward and backward") {
  if (!have_gpu()) return;
  const auto conv = [](int in, int out, int k, int s, int p, bool bias, int groups) {
    return [=](const LayerFactory& f) {
      return f.conv2d(conv2d_spec(in, out, k, s, p, bias, groups));
    };
  };
  check_layer("conv 3x3 s1 p1 bias 16->32", conv(16, 32, 3, 1, 1, true, 1), {8, 16, 12, 12}, 1e-4);
  check_layer("conv 1x1 s2 16->64", conv(16, 64, 1, 2, 0, false, 1), {8, 16, 12, 12}, 1e-4);
  check_layer("conv 7x7 s2 p3 3->16 (stem)", conv(3, 16, 7, 2, 3, false, 1), {4, 3, 32, 32}, 1e-4);
  check_layer("conv 3x3 grouped 32x4 (resnext)", conv(128, 128, 3, 1, 1, false, 32), {4, 128, 8, 8},
              1e-4);
  for (bool relu : {false, true}) {
    const std::string tag = relu ? " + relu" : "";
    const auto bn = [relu](const LayerFactory& f) {
      return f.batch_norm(BatchNormSpec{24, 1e-5f, 0.1f, relu});
    };
    check_layer("batch_norm 2d" + tag, bn, {8, 24, 6, 6}, 1e-4);
    check_layer("batch_norm 2d" + tag, bn, {8, 24, 6, 6}, 1e-4, false);
    check_layer("batch_norm 1d" + tag, bn, {16, 24, 1, 1}, 1e-4);
  }
  check_layer(
      "linear 96->10 bias",
      [](const LayerFactory& f) {
        return f.linear(LinearSpec{96, 10, true});
      },
      {16, 96, 1, 1}, 1e-4);
  check_layer(
      "linear on (N, 6, 4, 4) no bias",
      [](const LayerFactory& f) {
        return f.linear(LinearSpec{96, 7, false});
      },
      {16, 6, 4, 4}, 1e-4);
  check_layer(
      "relu", [](const LayerFactory& f) { return f.relu(); }, {4, 8, 5, 5}, 0);
  check_layer(
      "max_pool 3/2/1",
      [](const LayerFactory& f) {
        return f.max_pool(MaxPoolSpec{3, 2, 1});
      },
      {4, 8, 13, 13}, 0);
  check_layer(
      "max_pool 2/2/0",
      [](const LayerFactory& f) {
        return f.max_pool(MaxPoolSpec{2, 2, 0});
      },
      {4, 8, 12, 12}, 0);
  check_layer(
      "global_avg_pool", [](const LayerFactory& f) { return f.global_avg_pool(); }, {4, 8, 7, 7},
      1e-6);
  check_layer(
      "flatten", [](const LayerFactory& f) { return f.flatten(); }, {4, 8, 3, 3}, 0);
  check_layer(
      "dropout 0.3 (eval)", [](const LayerFactory& f) { return f.dropout(0.3f, 1); },
      {16, 40, 1, 1}, 0, false);
  {
    auto make = [](const LayerFactory& f) {
      auto d = f.dropout(0.3f, 1);
      d->set_dropout_key(9, 4);
      return d;
    };
    check_layer("dropout 0.3 (training, same Philox mask)", make, {16, 40, 1, 1}, 0);
  }
}

namespace {

ModelSpec small_spec(const std::string& kind, int hw, int classes) {
  ModelSpec s;
  s.kind = kind;
  s.num_classes = classes;
  s.in_channels = 3;
  s.height = s.width = hw;
  s.init_seed = 5;
  s.blocks = 4;
  s.base_width = 8;
  return s;
}

std::vector<std::int32_t> labels_for(int n, int k) {
  std::vector<std::int32_t> y(n);
  for (int i = 0; i < n; ++i) y[i] = (i * 7) % k;
  return y;
}

}  // namespace

TEST_CASE("whole models on the GPU: logits, gradients and 5 SGD steps match the CPU") {
  if (!have_gpu()) return;
  for (const auto& [kind, hw] : std::vector<std::pair<std::string, int>>{
           {"resnet_small", 32}, {"mini_resnet", 32}, {"resnet18", 32}, {"resnext50_32x4d", 32}}) {
    const ModelSpec spec = small_spec(kind, hw, 10);
    auto cpu = make_model(spec, cpu_layers(true));
    auto gpu = make_model(spec, cuda_layers());
    REQUIRE(gpu->on_device());
    const int n = 8, k = spec.num_classes;
    const auto x = random_vector(static_cast<std::size_t>(n) * 3 * hw * hw, 21);
    const auto y = labels_for(n, k);
    ft::optim::SgdOptions o;
    o.lr = 0.01;
    o.momentum = 0.9;
    o.nesterov = true;
    o.weight_decay = 5e-4;
    o.no_decay_norm = true;
    o.max_grad_norm = kind == "mini_resnet" ? 0.5 : 0.0;  // clipping on the device too
    ft::optim::Sgd opt_c(cpu->parameters(), o), opt_g(gpu->parameters(), o);
    std::vector<float> lc(n * k), lg(n * k), dc(n * k), dg(n * k);
    for (int step = 0; step < 5; ++step) {
      for (auto* m : {cpu.get(), gpu.get()}) m->zero_grad();
      cpu->forward(x.data(), n, true, lc.data());
      gpu->forward(x.data(), n, true, lg.data());
      if (step == 0) compare(kind + " logits", lg, lc, 2e-3);
      ft::nn::cross_entropy_backward(dc.data(), lc.data(), y.data(), n, k, 0.1f);
      ft::nn::cross_entropy_backward(dg.data(), lg.data(), y.data(), n, k, 0.1f);
      cpu->backward(dc.data());
      gpu->backward(dg.data());
      if (step == 0) {
        double worst = 0;
        auto pc = cpu->parameters(), pg = gpu->parameters();
        for (std::size_t i = 0; i < pc.size(); ++i) {
          const auto g = from_device(pg[i]->device_grad, pg[i]->grad.size());
          double scale = 1e-12, diff = 0;
          for (std::size_t e = 0; e < g.size(); ++e) {
            scale = std::max(scale, double(std::fabs(pc[i]->grad[e])));
            diff = std::max(diff, double(std::fabs(g[e] - pc[i]->grad[e])));
          }
          worst = std::max(worst, diff / scale);
        }
        std::printf("%-58s worst relative difference over %zu tensors %.3g\n",
                    (kind + " gradients").c_str(), pc.size(), worst);
        CHECK_MESSAGE(worst <= 2e-3, kind << " gradients");
      }
      opt_c.step();
      opt_g.step();
      if (o.max_grad_norm > 0)
        CHECK_MESSAGE(std::fabs(opt_g.last_grad_norm() - opt_c.last_grad_norm()) <=
                          2e-3 * opt_c.last_grad_norm(),
                      kind << " gradient norm " << opt_g.last_grad_norm() << " vs "
                           << opt_c.last_grad_norm());
    }
    gpu->to_host();
    std::vector<float> wc, wg;
    for (Parameter* p : cpu->parameters()) wc.insert(wc.end(), p->value.begin(), p->value.end());
    for (Parameter* p : gpu->parameters()) wg.insert(wg.end(), p->value.begin(), p->value.end());
    compare(kind + " weights after 5 SGD steps", wg, wc, 2e-3);
    std::vector<float> rc, rg;
    for (Buffer* b : cpu->buffers()) rc.insert(rc.end(), b->value.begin(), b->value.end());
    for (Buffer* b : gpu->buffers()) rg.insert(rg.end(), b->value.begin(), b->value.end());
    compare(kind + " running statistics after 5 steps", rg, rc, 2e-3);
    cpu->forward(x.data(), n, false, lc.data());
    gpu->forward(x.data(), n, false, lg.data());
    compare(kind + " eval-mode logits after 5 steps", lg, lc, 2e-3);
  }
}

TEST_CASE("GPU training step throughput (forward, loss, backward, SGD)") {
  if (!have_gpu()) return;
  struct Case {
    std::string kind;
    int hw, batch, classes;
  };
  for (bool tf32 : {false, true}) {
    cuda::set_allow_tf32(tf32);
    for (const Case& c : {Case{"resnet_small", 28, 256, 10}, Case{"resnet18", 64, 128, 200},
                          Case{"resnet50", 224, 64, 200}, Case{"resnext50_32x4d", 224, 64, 200}}) {
      ModelSpec spec = small_spec(c.kind, c.hw, c.classes);
      spec.in_channels = c.kind == "resnet_small" ? 1 : 3;
      auto model = make_model(spec, cuda_layers());
      ft::optim::SgdOptions o;
      o.lr = 0.01;
      o.momentum = 0.9;
      ft::optim::Sgd opt(model->parameters(), o);
      const auto x =
          random_vector(static_cast<std::size_t>(c.batch) * spec.in_channels * c.hw * c.hw, 1);
      const auto y = labels_for(c.batch, c.classes);
      std::vector<float> logits(static_cast<std::size_t>(c.batch) * c.classes), d(logits.size());
      const auto step = [&] {
        model->zero_grad();
        model->forward(x.data(), c.batch, true, logits.data());
        ft::nn::cross_entropy_backward(d.data(), logits.data(), y.data(), c.batch, c.classes, 0.1f);
        model->backward(d.data());
        opt.step();
      };
      for (int i = 0; i < 3; ++i) step();  // algorithm choice, workspace, allocations
      cuda::synchronize();
      const int reps = 20;
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < reps; ++i) step();
      cuda::synchronize();
      const double sec =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf(
          "train step %-16s %3dx%-3d batch %3d tf32 %-3s: %8.1f ms/step %9.0f images/s (host "
          "input, "
          "host loss)\n",
          c.kind.c_str(), c.hw, c.hw, c.batch, tf32 ? "on" : "off", 1e3 * sec / reps,
          c.batch * reps / sec);
    }
  }
  cuda::set_allow_tf32(false);
}

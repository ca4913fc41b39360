// bench_train: training throughput of one model on the CPU (forward + cross-entropy + backward +
// an SGD momentum/weight-decay update), batch N, T OpenMP threads, f32 or bf16 convolutions and
// matmuls; prints images/s. The PyTorch twin is tools/bench_train.py; tools/bench_train.sh runs
// both side by side.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "kernels/nn/cpu/dnnl_context.hpp"
#include "kernels/nn/loss.hpp"
#include "kernels/nn/model.hpp"
#include "kernels/random/philox.hpp"

namespace {

void usage() {
  std::fprintf(
      stderr,
      "usage: bench_train MODEL C H W [--batch 128] [--threads 2] [--steps 10] [--warmup 2]\n"
      "                   [--precision f32|bf16]\n"
      "  MODEL: resnet18 | mini_resnet | resnet_small | resnet34 | resnet50 | resnext50_32x4d\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    usage();
    return 2;
  }
  ft::nn::ModelSpec spec;
  spec.kind = argv[1];
  spec.in_channels = std::atoi(argv[2]);
  spec.height = std::atoi(argv[3]);
  spec.width = std::atoi(argv[4]);
  spec.num_classes = spec.kind == "resnet_small" ? 10 : 200;
  int batch = 128, threads = 2, steps = 10, warmup = 2;
  std::string precision = "f32";
  for (int i = 5; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--precision" &&
        (std::strcmp(argv[i + 1], "f32") == 0 || std::strcmp(argv[i + 1], "bf16") == 0))
      precision = argv[i + 1];
    else if (k == "--batch")
      batch = v;
    else if (k == "--threads")
      threads = v;
    else if (k == "--steps")
      steps = v;
    else if (k == "--warmup")
      warmup = v;
    else {
      usage();
      return 2;
    }
  }
  omp_set_num_threads(threads);
  const auto p = precision == "bf16" ? ft::nn::Precision::bf16 : ft::nn::Precision::f32;
  std::unique_ptr<ft::nn::Model> model;
  try {
    model = ft::nn::make_model(spec, ft::nn::cpu_layers(true, p));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
  const std::int64_t per = std::int64_t{spec.in_channels} * spec.height * spec.width;
  std::vector<float> x(per * batch);
  ft::rng::Philox g(1, 0, 0, 0);
  for (float& v : x) v = g.uniform(-1.f, 1.f);
  std::vector<std::int32_t> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = static_cast<std::int32_t>(g.below(spec.num_classes));
  std::vector<float> logits(std::size_t(batch) * spec.num_classes), dlogits(logits.size());
  const auto params = model->parameters();
  std::vector<std::vector<float>> momentum;
  for (auto* p : params) momentum.emplace_back(p->value.size(), 0.f);

  double fwd_s = 0, bwd_s = 0, upd_s = 0;
  std::vector<double> step_s;
  for (int step = 0; step < warmup + steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    model->forward(x.data(), batch, true, logits.data());
    ft::nn::cross_entropy_forward(logits.data(), labels.data(), batch, spec.num_classes, 0.1f);
    ft::nn::cross_entropy_backward(dlogits.data(), logits.data(), labels.data(), batch,
                                   spec.num_classes, 0.1f);
    const auto t1 = std::chrono::steady_clock::now();
    model->zero_grad();
    model->backward(dlogits.data());
    const auto t2 = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < params.size(); ++k) {
      float* w = params[k]->value.data();
      const float* gr = params[k]->grad.data();
      float* m = momentum[k].data();
      const std::int64_t n = static_cast<std::int64_t>(params[k]->value.size());
#pragma omp parallel for simd schedule(static) if (n >= (1 << 16))
      for (std::int64_t i = 0; i < n; ++i) {
        const float d = gr[i] + 5e-4f * w[i];
        m[i] = 0.9f * m[i] + d;
        w[i] -= 0.01f * m[i];
      }
    }
    const auto t3 = std::chrono::steady_clock::now();
    if (step >= warmup) {
      fwd_s += std::chrono::duration<double>(t1 - t0).count();
      bwd_s += std::chrono::duration<double>(t2 - t1).count();
      upd_s += std::chrono::duration<double>(t3 - t2).count();
      step_s.push_back(std::chrono::duration<double>(t3 - t0).count());
    }
  }
  // The median step: on a shared machine it is far steadier than the mean.
  std::sort(step_s.begin(), step_s.end());
  const double median = step_s[step_s.size() / 2];
  std::printf(
      "flowtrain %-4s %-13s %dx%dx%d batch %d threads %d: %7.1f images/s (median step %.0f ms; "
      "mean forward %.0f ms, backward %.0f ms, update %.0f ms; oneDNN ISA %s)\n",
      precision.c_str(), spec.kind.c_str(), spec.in_channels, spec.height, spec.width, batch,
      threads, double(batch) / median, 1e3 * median, 1e3 * fwd_s / steps, 1e3 * bwd_s / steps,
      1e3 * upd_s / steps, ft::nn::cpu::isa_name(dnnl::get_effective_cpu_isa()).c_str());
  return 0;
}

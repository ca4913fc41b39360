// bench_conv: one Conv2d layer on the CPU, backward (dL/dx and dL/dweight) per weight-gradient
// path, side by side in one run: oneDNN's direct kernel in the layer's precision, the direct
// kernel in f32 (bf16 only), and im2col + one GEMM (kernels/nn/cpu/conv_weight_grad.hpp). The
// input is what a layer inside a network gets: blocked (nChw16c), bf16 in bf16. Prints each
// path's fastest backward time (of --steps) and the path conv_weight_grad_path picks. Used to set
// that rule. Usage: bench_conv N C H W OUT KERNEL STRIDE PAD [--precision f32|bf16] [--threads 2]
//                   [--steps 5] [--groups 1]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/geometry.hpp"
#include "kernels/random/philox.hpp"

namespace {

using ft::nn::cpu::ConvWeightGrad;

const char* name(ConvWeightGrad p) {
  return p == ConvWeightGrad::im2col       ? "im2col"
         : p == ConvWeightGrad::taps       ? "taps"
         : p == ConvWeightGrad::direct_f32 ? "direct_f32"
                                           : "direct";
}

// One layer on one path, with its inputs; step() times one backward call (after a forward).
class Trial {
 public:
  Trial(const ft::nn::Conv2dSpec& spec, const ft::nn::Shape& in, ft::nn::Precision precision,
        ConvWeightGrad path)
      : conv_(ft::nn::cpu::make_conv2d(spec, true, precision, path)) {
    const ft::nn::Shape out = conv_->setup(in);
    std::vector<ft::nn::Parameter*> params;
    std::vector<ft::nn::Buffer*> buffers;
    conv_->collect("", params, buffers);
    ft::rng::Philox g(7, 0, 0, 0);
    for (ft::nn::Parameter* p : params)
      for (float& v : p->value) v = g.uniform(-0.1f, 0.1f);
    // Random bits are valid values in both types (bf16 pairs read as floats stay finite).
    x_.resize(static_cast<std::size_t>(in.buffer_floats()));
    dy_.resize(static_cast<std::size_t>(out.buffer_floats()));
    for (float& v : x_) v = g.uniform(-1.f, 1.f);
    for (float& v : dy_) v = g.uniform(-1.f, 1.f);
  }
  double step() {
    conv_->forward(x_.data(), true);
    const auto t0 = std::chrono::steady_clock::now();
    conv_->backward(dy_.data());
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  ft::nn::ModulePtr conv_;
  std::vector<float> x_, dy_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 9) {
    std::fprintf(stderr,
                 "usage: bench_conv N C H W OUT KERNEL STRIDE PAD [--precision f32|bf16] "
                 "[--threads 2] [--steps 5] [--groups 1]\n");
    return 2;
  }
  const int n = std::atoi(argv[1]), c = std::atoi(argv[2]), h = std::atoi(argv[3]),
            w = std::atoi(argv[4]);
  auto spec = ft::nn::conv2d_spec(c, std::atoi(argv[5]), std::atoi(argv[6]), std::atoi(argv[7]),
                                  std::atoi(argv[8]), false, 1);
  ft::nn::Precision precision = ft::nn::Precision::f32;
  int threads = 2, steps = 5;
  for (int i = 9; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--precision") == 0)
      precision =
          std::strcmp(argv[i + 1], "bf16") == 0 ? ft::nn::Precision::bf16 : ft::nn::Precision::f32;
    else if (std::strcmp(argv[i], "--threads") == 0)
      threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--groups") == 0)
      spec.groups = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--steps") == 0)
      steps = std::atoi(argv[i + 1]);
  }
  omp_set_num_threads(threads);
  const bool bf16 = precision == ft::nn::Precision::bf16;
  const ft::nn::Shape in{
      n, c, h, w, ft::nn::Layout::nChw16c, bf16 ? ft::nn::DataType::bf16 : ft::nn::DataType::f32};
  try {
    const ft::nn::Shape out = ft::nn::conv2d_output(spec, in, "conv2d");
    const ConvWeightGrad pick = ft::nn::cpu::conv_weight_grad_path(
        spec, in, out.h, out.w, precision, dnnl::get_effective_cpu_isa());
    std::printf("conv %dx%dx%dx%d -> %d k%d s%d p%d %s:", n, c, h, w, spec.out_channels,
                spec.kernel, spec.stride, spec.padding, bf16 ? "bf16" : "f32");
    // The paths take turns, step after step, so a busy spell on the machine hits them alike;
    // each path's fastest step is the least disturbed.
    std::vector<ConvWeightGrad> paths;
    std::vector<Trial> trials;
    for (ConvWeightGrad p : {ConvWeightGrad::direct, ConvWeightGrad::direct_f32,
                             ConvWeightGrad::im2col, ConvWeightGrad::taps}) {
      if (p == ConvWeightGrad::direct_f32 && !bf16) continue;
      if (ft::nn::cpu::is_gemm(p) && (spec.kernel == 1 || spec.groups > 1)) continue;
      paths.push_back(p);
      trials.emplace_back(spec, in, precision, p);
      trials.back().step();  // warm-up
    }
    std::vector<double> best(paths.size(), 1e300);
    for (int i = 0; i < steps; ++i)
      for (std::size_t k = 0; k < trials.size(); ++k) best[k] = std::min(best[k], trials[k].step());
    for (std::size_t k = 0; k < paths.size(); ++k)
      std::printf("  %s %.2f ms", name(paths[k]), best[k]);
    std::printf("  (picked: %s)\n", name(pick));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv: %s\n", e.what());
    return 1;
  }
  return 0;
}

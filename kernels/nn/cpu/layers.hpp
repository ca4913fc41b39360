// Constructors of the CPU layers (one translation unit per op); cpu_layers() hands them out.
#pragma once

#include <cstddef>
#include <dnnl.hpp>
#include <optional>

#include "kernels/nn/module.hpp"

namespace ft::nn::cpu {

// Own loops open an OpenMP parallel region only above this many elements: a region costs
// microseconds, far more on a loaded machine, and small layers do not repay it.
inline constexpr std::int64_t kParallelMin = std::int64_t{1} << 16;

// How a Conv2d computes dL/dweight (tools/bench_conv times each for one layer):
//   direct      oneDNN's backward-weights kernel in the layer's precision;
//   direct_f32  the same kernel in f32 for a bf16 layer (src and dL/dy converted for it);
//   im2col      the patches written out and one GEMM (kernels/nn/cpu/conv_weight_grad.hpp);
//   taps        one GEMM per kernel tap over the pixels it reads inside the image (same file).
// conv_weight_grad_path picks by what was measured on AVX-512 BF16 without AMX, oneDNN 2.6.3,
// 2 threads, batch 128 (docs/BENCHMARKS.md). oneDNN's direct kernels run far below the GEMM rate
// on 3x3 convolutions with 16 or fewer output pixels (mini_resnet's 1024-channel 2x2 layer:
// direct bf16 116 ms, f32 274 ms, im2col 47 ms, taps 34 ms): those take a GEMM path, taps where
// padding is over 10% of the patches (2x2 and 4x4 maps), im2col otherwise (16 -> 8 strided). The
// bf16 kernel without AMX also stalls on strided 3x3 convolutions when the machine is busy (1 s
// instead of 10 ms for resnet18's 128 -> 256 at 8x8): those take im2col while the patches fit in
// kIm2colMaxBytes, f32 beyond. Grouped bf16 convolutions (resnext) compute it in f32 too:
// oneDNN's bf16 kernel was up to 2.8x slower there (10.7 against 3.9 ms on a 32-group 256-channel
// 8x8 layer). With AMX the bf16 kernel is fast everywhere. A stem on the image (4 or fewer input
// channels) and 1x1 convolutions stay direct.
enum class ConvWeightGrad { direct, direct_f32, im2col, taps };
// im2col and taps (GemmWeightGrad, conv_weight_grad.hpp): groups 1 and kernels > 1 only.
inline bool is_gemm(ConvWeightGrad p) {
  return p == ConvWeightGrad::im2col || p == ConvWeightGrad::taps;
}
inline constexpr std::size_t kIm2colMaxBytes = std::size_t{64} << 20;
inline constexpr int kGemmMaxPixels = 16;
inline constexpr double kTapsBelowDensity = 0.9;
ConvWeightGrad conv_weight_grad_path(const Conv2dSpec& spec, const Shape& in, int out_h, int out_w,
                                     Precision precision, dnnl::cpu_isa isa);

// wgrad: the weight-gradient path, chosen by conv_weight_grad_path unless given (tests,
// tools/bench_conv).
ModulePtr make_conv2d(const Conv2dSpec& spec, bool blocked, Precision precision,
                      std::optional<ConvWeightGrad> wgrad = std::nullopt);
ModulePtr make_batch_norm(const BatchNormSpec& spec);
ModulePtr make_linear(const LinearSpec& spec, Precision precision);
ModulePtr make_max_pool(const MaxPoolSpec& spec);
ModulePtr make_global_avg_pool();

}  // namespace ft::nn::cpu

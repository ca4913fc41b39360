// Constructors of the CPU layers (one translation unit per op); cpu_layers() hands them out.
#pragma once

#include <dnnl.hpp>

#include "kernels/nn/module.hpp"

namespace ft::nn::cpu {

// Own loops open an OpenMP parallel region only above this many elements: a region costs
// microseconds, far more on a loaded machine, and small layers do not repay it.
inline constexpr std::int64_t kParallelMin = std::int64_t{1} << 16;

// Whether a bf16 Conv2d computes dL/dweight in bf16 too. oneDNN 2.6's bf16 backward-weights
// kernel for AVX-512 BF16 without AMX (jit_bf16) ran 5-15x slower than f32 on 3x3 convolutions
// with a stride or with 16 or fewer output pixels (resnet18's later stages at 64x64) on 2 threads:
// those keep that one pass in f32 (their forward and backward-data stay bf16; src and diff_dst
// are converted for it). A stem on the image (4 or fewer input channels; resnet18's 7x7 stride
// 2) ran faster in bf16 (21 vs 41 ms a step) and stays bf16.
bool conv_bf16_weight_grad(const Conv2dSpec& spec, int out_h, int out_w, dnnl::cpu_isa isa);

ModulePtr make_conv2d(const Conv2dSpec& spec, bool blocked, Precision precision);
ModulePtr make_batch_norm(const BatchNormSpec& spec);
ModulePtr make_linear(const LinearSpec& spec, Precision precision);
ModulePtr make_max_pool(const MaxPoolSpec& spec);
ModulePtr make_global_avg_pool();

}  // namespace ft::nn::cpu

// Constructors of the CPU layers (one translation unit per op); cpu_layers() hands them out.
#pragma once

#include "kernels/nn/module.hpp"

namespace ft::nn::cpu {

// Own loops open an OpenMP parallel region only above this many elements: a region costs
// microseconds, far more on a loaded machine, and small layers do not repay it.
inline constexpr std::int64_t kParallelMin = std::int64_t{1} << 16;

ModulePtr make_conv2d(const Conv2dSpec& spec, bool blocked, Precision precision);
ModulePtr make_batch_norm(const BatchNormSpec& spec);
ModulePtr make_linear(const LinearSpec& spec, Precision precision);
ModulePtr make_max_pool(const MaxPoolSpec& spec);
ModulePtr make_global_avg_pool();

}  // namespace ft::nn::cpu

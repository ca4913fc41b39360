// Constructors of the CPU layers (one translation unit per op); cpu_layers() hands them out.
#pragma once

#include "kernels/nn/module.hpp"

namespace ft::nn::cpu {

ModulePtr make_conv2d(const Conv2dSpec& spec);
ModulePtr make_batch_norm(const BatchNormSpec& spec);
ModulePtr make_linear(const LinearSpec& spec);
ModulePtr make_max_pool(const MaxPoolSpec& spec);
ModulePtr make_global_avg_pool();

}  // namespace ft::nn::cpu

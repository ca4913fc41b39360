// The CPU loops of SyncBatchNorm (kernels/nn/batch_norm_sync.hpp) over a tensor in any layout the
// batch norm layer takes: NCHW, nChw8c, nChw16c. Channel padding is never read and dx is zero
// there. Sums run in double, channel blocks in parallel, each in a fixed order (reproducible).
#pragma once

#include "kernels/nn/batch_norm_sync.hpp"
#include "kernels/nn/module.hpp"

namespace ft::nn::cpu {

// sums[c] = sum of x over channel c, sums[C + c] = sum of x^2.
void channel_sums(double* sums, const float* x, const Shape& s);

// sums[c] = sum of dy', sums[C + c] = sum of dy' * (x - mean[c]) * invstd[c], where dy' = dy, or,
// with `relu`, dy where y > 0 (y: the fused ReLU's output).
void channel_grad_sums(double* sums, const float* x, const float* y, const float* dy, bool relu,
                       const float* mean, const float* invstd, const Shape& s);

// dx = grad[c](x, dy') (dy' as above) everywhere.
void sync_input_grad(float* dx, const float* x, const float* y, const float* dy, bool relu,
                     const BatchNormInputGrad* grad, const Shape& s);

}  // namespace ft::nn::cpu

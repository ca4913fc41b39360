// The per-element SGD update, shared by the CPU loops (sgd.cpp) and the CUDA kernel
// (kernels/nn/cuda/kernels.cuh), so both round identically. Each line mirrors one torch op:
// d_p = grad.add(param, alpha=wd); buf = clone(d_p) | buf.mul_(momentum).add_(d_p,
// alpha=1-dampening); d_p = d_p.add(buf, alpha=momentum) (nesterov) | buf; param.add_(d_p,
// alpha=-lr).
#pragma once

#include "kernels/hd.hpp"

namespace ft::optim {

// a * b rounded on its own: on the device __fmul_rn keeps nvcc from fusing it into an FMA
// (whatever --fmad says), so device results equal the host's bit for bit.
FT_HD inline float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

// One element: kMomentum = momentum != 0; kFirst = the buffer does not exist yet (buf = d_p);
// buf is unused (may be null) without momentum. neg_lr = -lr, keep = 1 - dampening.
template <bool kMomentum, bool kNesterov, bool kFirst>
FT_HD inline void sgd_element(float& value, float grad, float* buf, float neg_lr, float momentum,
                              float keep, float weight_decay) {
  const float d = grad + mul_rn(weight_decay, value);
  if constexpr (!kMomentum) {
    value = value + mul_rn(neg_lr, d);
  } else {
    float b = d;
    if constexpr (!kFirst) b = mul_rn(*buf, momentum) + mul_rn(keep, d);
    *buf = b;
    if constexpr (kNesterov)
      value = value + mul_rn(neg_lr, d + mul_rn(momentum, b));
    else
      value = value + mul_rn(neg_lr, b);
  }
}

}  // namespace ft::optim

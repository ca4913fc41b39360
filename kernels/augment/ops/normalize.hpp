// normalize's functor: (x / 255 - mean) / std per channel. Its kernel copies each pixel and the
// store does the arithmetic (normalize_value), as it does when normalize is fused into the step
// before it.
#pragma once

#include "kernels/augment/ops/functor.hpp"

namespace ft::aug {

FT_HD inline float normalize_value(std::uint8_t x, float mean, float stdev) {
  return (static_cast<float>(x) / 255.0f - mean) / stdev;
}

template <>
struct OpFunctor<OpKind::normalize> : FunctorBase {
  FT_HD static void pixel(const cuda::Step& s, const cuda::Task& t, int x, int y,
                          std::uint8_t* px) {
    const std::uint8_t* p = s.in + t.in_off + hwc_offset(t.in, y, x);
    for (int ch = 0; ch < t.in.c; ++ch) px[ch] = p[ch];
  }
};

}  // namespace ft::aug

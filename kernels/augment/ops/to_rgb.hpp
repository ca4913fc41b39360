// to_rgb's functor: a gray pixel's value three times; an RGB pixel unchanged.
#pragma once

#include "kernels/augment/ops/functor.hpp"

namespace ft::aug {

template <>
struct OpFunctor<OpKind::to_rgb> : FunctorBase {
  FT_HD static void pixel(const cuda::Step& s, const cuda::Task& t, int x, int y,
                          std::uint8_t* px) {
    const std::uint8_t* p = s.in + t.in_off + hwc_offset(t.in, y, x);
    px[0] = p[0];
    px[1] = p[t.in.c == 3 ? 1 : 0];
    px[2] = p[t.in.c == 3 ? 2 : 0];
  }
};

}  // namespace ft::aug

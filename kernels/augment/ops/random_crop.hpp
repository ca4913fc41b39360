// random_crop's functor: the drawn window, reading padding per the op's mode and fill.
#pragma once

#include "kernels/augment/ops/functor.hpp"

namespace ft::aug {

template <>
struct OpFunctor<OpKind::random_crop> : FunctorBase {
  FT_HD static void pixel(const cuda::Step& s, const cuda::Task& t, int x, int y,
                          std::uint8_t* px) {
    window_pixel(px, s.in + t.in_off, t.in, t.out.w, t.d.top, t.d.left, x, y, s.op.pad_mode, false,
                 s.op.fill, s.op.n_fill);
  }
};

}  // namespace ft::aug

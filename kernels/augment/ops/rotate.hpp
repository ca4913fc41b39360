// rotate's functor: the affine warp (affine.hpp) with the op's interpolation and fill.
#pragma once

#include "kernels/augment/affine.hpp"
#include "kernels/augment/ops/functor.hpp"

namespace ft::aug {

template <>
struct OpFunctor<OpKind::rotate> : FunctorBase {
  static void plan(const AugmentOp&, cuda::Task& t) {
    affine_rescale(t.d.matrix, t.in.w, t.in.h, t.rt);
  }
  FT_HD static void pixel(const cuda::Step& s, const cuda::Task& t, int x, int y,
                          std::uint8_t* px) {
    affine_pixel(px, s.in + t.in_off, t.in.h, t.in.w, t.in.c, t.rt, x, y, s.op.interp, true,
                 s.op.fill, s.op.n_fill);
  }
};

}  // namespace ft::aug

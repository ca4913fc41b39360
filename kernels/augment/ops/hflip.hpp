// hflip's functor: the image read mirrored when the sample's draw flips it.
#pragma once

#include "kernels/augment/ops/functor.hpp"

namespace ft::aug {

template <>
struct OpFunctor<OpKind::hflip> : FunctorBase {
  FT_HD static void pixel(const cuda::Step& s, const cuda::Task& t, int x, int y,
                          std::uint8_t* px) {
    window_pixel(px, s.in + t.in_off, t.in, t.out.w, t.d.top, t.d.left, x, y, PadMode::constant,
                 t.d.flip, s.op.fill, s.op.n_fill);
  }
};

}  // namespace ft::aug

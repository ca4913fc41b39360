// center_crop's functor: the drawn window, zero where it reaches past the image.
#pragma once

#include "kernels/augment/ops/functor.hpp"

namespace ft::aug {

template <>
struct OpFunctor<OpKind::center_crop> : FunctorBase {
  FT_HD static void pixel(const cuda::Step& s, const cuda::Task& t, int x, int y,
                          std::uint8_t* px) {
    window_pixel(px, s.in + t.in_off, t.in, t.out.w, t.d.top, t.d.left, x, y, PadMode::constant,
                 false, nullptr, 1);
  }
};

}  // namespace ft::aug

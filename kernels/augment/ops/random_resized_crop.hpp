// random_resized_crop's functor: resize's (ops/resize.hpp) over the drawn window.
#pragma once

#include "kernels/augment/ops/resize.hpp"

namespace ft::aug {

template <>
struct OpFunctor<OpKind::random_resized_crop> : OpFunctor<OpKind::resize> {};

}  // namespace ft::aug

// Every op's functor header (ops/<name>.hpp), for the code that runs any op: the CUDA kernels
// (cuda_kernels.cuh) and the CUDA plan. A new op's header is included here (one line); a missing
// one is a compile error naming the op.
#pragma once

#include <type_traits>

#include "kernels/augment/ops/center_crop.hpp"
#include "kernels/augment/ops/hflip.hpp"
#include "kernels/augment/ops/normalize.hpp"
#include "kernels/augment/ops/random_crop.hpp"
#include "kernels/augment/ops/random_erasing.hpp"
#include "kernels/augment/ops/random_resized_crop.hpp"
#include "kernels/augment/ops/resize.hpp"
#include "kernels/augment/ops/rotate.hpp"
#include "kernels/augment/ops/to_rgb.hpp"
#include "kernels/augment/ops/trivial_augment_wide.hpp"

namespace ft::aug {

template <class T, class = void>
inline constexpr bool kDefined = false;
template <class T>
inline constexpr bool kDefined<T, std::void_t<decltype(sizeof(T))>> = true;

#define FT_CHECK_FUNCTOR(name)                     \
  static_assert(kDefined<OpFunctor<OpKind::name>>, \
                "ops/" #name                       \
                ".hpp: not included above, or it does not define the op's OpFunctor");
FT_AUGMENT_OPS(FT_CHECK_FUNCTOR)
#undef FT_CHECK_FUNCTOR

// Runs op k's plan() on a task (the CUDA plan, per sample).
inline void plan_task(const AugmentOp& op, cuda::Task& t) {
  switch (op.kind) {
#define FT_PLAN_TASK(name)                \
  case OpKind::name:                      \
    OpFunctor<OpKind::name>::plan(op, t); \
    return;
    FT_AUGMENT_OPS(FT_PLAN_TASK)
#undef FT_PLAN_TASK
  }
}

}  // namespace ft::aug

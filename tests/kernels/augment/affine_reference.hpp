// The affine warp by its per-pixel definition (affine_pixel, which the CUDA kernel runs): the
// reference the CPU loops' tests compare with.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/augment/affine.hpp"
#include "kernels/augment/geometry.hpp"

namespace ft::aug::testing {

inline std::vector<std::uint8_t> affine_reference(const std::vector<std::uint8_t>& in, Dims d,
                                                  const float* m, Interp interp, bool has_fill,
                                                  const float* fill, int n_fill) {
  std::vector<std::uint8_t> out(d.numel());
  float rt[6];
  affine_rescale(m, d.w, d.h, rt);
  for (int y = 0; y < d.h; ++y)
    for (int x = 0; x < d.w; ++x)
      affine_pixel(out.data() + hwc_offset(d, y, x), in.data(), d.h, d.w, d.c, rt, x, y, interp,
                   has_fill, fill, n_fill);
  return out;
}

}  // namespace ft::aug::testing

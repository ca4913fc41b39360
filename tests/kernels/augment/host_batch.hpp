// Synthetic batches of mixed-size images for the CUDA tests (the host emulation and the GPU
// conformance suite): sizes vary per sample, with 1x1 images and gray/RGB mixed in.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/augment/ops.hpp"

namespace ft::aug::testing {

struct HostBatch {
  std::vector<std::uint8_t> pixels;
  std::vector<std::size_t> offsets;
  std::vector<Dims> dims;
  std::vector<std::uint64_t> ids;
};

// Sample i is 1x1 when i % one_in == 5, else (base + h0 + i*7 % h_mod) x (base + w0 + i*13 % w_mod).
struct BatchShape {
  int one_in, h0, w0, h_mod, w_mod;
  std::uint64_t id0, id_step;
};

inline HostBatch make_batch(const BatchShape& s, std::size_t n, bool rgb_only, int base = 0) {
  HostBatch b;
  for (std::size_t i = 0; i < n; ++i) {
    const bool tiny = static_cast<int>(i % static_cast<std::size_t>(s.one_in)) == 5;
    const int h = tiny ? 1 : base + s.h0 + static_cast<int>((i * 7) % static_cast<std::size_t>(s.h_mod));
    const int w = tiny ? 1 : base + s.w0 + static_cast<int>((i * 13) % static_cast<std::size_t>(s.w_mod));
    const int c = (rgb_only || i % 3) ? 3 : 1;
    b.offsets.push_back(b.pixels.size());
    b.dims.push_back({h, w, c});
    b.ids.push_back(s.id0 + s.id_step * i);
    for (int k = 0; k < h * w * c; ++k)
      b.pixels.push_back(static_cast<std::uint8_t>((k * 37 + i * 11 + (k / 5) * 3) % 256));
  }
  return b;
}

// ImageNet normalization over the first n channels.
inline AugmentOp normalize_op(int n) {
  AugmentOp op{.kind = OpKind::normalize};
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdev[3] = {0.229f, 0.224f, 0.225f};
  for (int k = 0; k < 3; ++k) {
    op.mean[k] = mean[k];
    op.std[k] = stdev[k];
  }
  op.n_stats = n;
  return op;
}

}  // namespace ft::aug::testing

// Internal to the affine warp's CPU loops (affine_cpu.cpp and its AVX2 form affine_avx2.cpp): one
// output row's bilinear taps (element offsets and weights by corner, +0 and offset 0 where the
// corner is outside, and the in-bounds weight sum) and the scalar pixel that both files fall back
// to. Every form computes affine_pixel_c's float operations in its order, so all agree bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/augment/cpu_round.hpp"
#include "kernels/augment/ops.hpp"  // AffineScratch

namespace ft::aug {

// Per corner k (nw, ne, sw, se) of each pixel of the row.
struct Taps {
  int* off[4];
  float* wt[4];
  float* mask;
};

// Output pixel x of the row from its taps, channel by channel.
template <int C>
inline void bilinear_px(std::uint8_t* out, const std::uint8_t* in, const Taps& t, int x, int c_rt,
                        bool has_fill, const float* fill) {
  const int c = C > 0 ? C : c_rt;
  const int o0 = t.off[0][x], o1 = t.off[1][x], o2 = t.off[2][x], o3 = t.off[3][x];
  const float w0 = t.wt[0][x], w1 = t.wt[1][x], w2 = t.wt[2][x], w3 = t.wt[3][x];
  const float mask = t.mask[x];
  for (int ch = 0; ch < c; ++ch) {
    float v = 0.0f + in[o0 + ch] * w0 + in[o1 + ch] * w1 + in[o2 + ch] * w2 + in[o3 + ch] * w3;
    if (has_fill) v = v * mask + (1.0f - mask) * fill[ch];
    out[x * c + ch] = round_to_u8_cpu(v);
  }
}

// AVX2 (affine_avx2.cpp; call only when cpu_isa() >= CpuIsa::avx2).
// Source coordinates and taps of output row y for x in [0, 8 * floor(w / 8)), from the rescaled
// matrix rt; returns where the scalar loops take over.
int bilinear_taps_avx2(const Taps& t, const float* rt, int y, int w, int h, int c);
// AVX-512 (affine_rgb_avx512.cpp; only when cpu_isa() >= CpuIsa::avx512): the RGB warp's taps of
// row y, 16 pixels at a time over 16 * ceil(w / 16) pixels (the arrays' size), as rgb_taps makes
// them: the bordered copy's offset of each pixel's 2x2 block, the four weights and their sum.
void rgb_taps_avx512(int* off, float* const* wt, float* mask, const float* rt, int y, int w, int h);
// The whole bilinear warp of an RGB image (affine_rgb_avx2.cpp), from the rescaled matrix rt.
void affine_bilinear_rgb_avx2(std::uint8_t* out, const std::uint8_t* in, int h, int w,
                              const float* rt, bool has_fill, const float* fill, AffineScratch& s);

}  // namespace ft::aug

// Bilinear resize on the CPU (resize, random_resized_crop), separable as PyTorch's kernel:
// horizontal pass into float rows, then the vertical pass, rounded to u8. The source row is
// widened to float once (exact), the vertical taps are summed in one pass per output row with
// the rounding fused into the last, and zero-weight taps are skipped: the same float operations
// in the same order as the CUDA kernel's, so the same bits (an RGB pixel's channels summed as one
// SSE vector).
#include <smmintrin.h>  // SSE4.1, part of the x86-64-v2 baseline

#include <stdexcept>

#include "kernels/augment/cpu_round.hpp"
#include "kernels/augment/geometry.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/resize.hpp"
#include "kernels/augment/pixel.hpp"

namespace ft::aug {

namespace {

// resize_weights, then the zero-weight taps dropped (order kept): skipping a +0 term leaves every
// float sum unchanged, so results equal the CUDA kernel, which sums all taps. Returns the count.
int compact_taps(int i, int in, int out, bool antialias, int taps, int* idx, float* w) {
  resize_weights(i, in, out, antialias, idx, w);
  int n = 0;
  for (int k = 0; k < taps; ++k)
    if (w[k] != 0.0f) {
      idx[n] = idx[k];
      w[n++] = w[k];
    }
  return n;
}

// One source row (widened to float) -> one float row of out_w pixels (C channels; C = 0: c).
template <int C>
void horizontal_pass(float* trow, const float* row, int out_w, int taps, const int* ix,
                     const float* wx, const int* nx, int c_rt) {
  const int c = C > 0 ? C : c_rt;
  for (int x = 0; x < out_w; ++x) {
    float acc[kMaxChannels] = {};
    const int* idx = ix + x * taps;
    const float* w = wx + x * taps;
    for (int k = 0; k < nx[x]; ++k) {
      const float* p = row + idx[k] * c;
      for (int ch = 0; ch < c; ++ch) acc[ch] += w[k] * p[ch];
    }
    for (int ch = 0; ch < c; ++ch) trow[x * c + ch] = acc[ch];
  }
}

// RGB: a pixel's three channels as the lanes of one vector (SSE), each lane the scalar loop's sum.
// Reads and writes a fourth float past each pixel: row and trow have one float of slack.
void horizontal_pass_rgb(float* trow, const float* row, int out_w, int taps, const int* ix,
                         const float* wx, const int* nx) {
  for (int x = 0; x < out_w; ++x) {
    const int* idx = ix + x * taps;
    const float* w = wx + x * taps;
    __m128 acc = _mm_setzero_ps();
    for (int k = 0; k < nx[x]; ++k)
      acc = _mm_add_ps(acc, _mm_mul_ps(_mm_set1_ps(w[k]), _mm_loadu_ps(row + idx[k] * 3)));
    _mm_storeu_ps(trow + x * 3, acc);
  }
}

// round_to_u8 of 16 floats (SSE): round to nearest even, clamp to [0, 255], pack.
inline void round_store16(std::uint8_t* out, const __m128* v) {
  const __m128 zero = _mm_setzero_ps(), top = _mm_set1_ps(255.0f);
  __m128i i[4];
  for (int q = 0; q < 4; ++q)
    i[q] = _mm_cvttps_epi32(
        _mm_min_ps(_mm_max_ps(_mm_round_ps(v[q], _MM_FROUND_CUR_DIRECTION), zero), top));
  const __m128i b = _mm_packus_epi16(_mm_packs_epi32(i[0], i[1]), _mm_packs_epi32(i[2], i[3]));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), b);
}

// One output row from n taps (rows iy[k] of the float image tmp, `stride` floats each, weights
// w[k]), rounded to u8: acc = 0, then acc += w[k] * row[k] tap by tap, as the scalar sum.
void vertical_row(std::uint8_t* out, const float* tmp, const int* iy, const float* w, int n,
                  std::size_t stride, float* acc) {
  std::size_t e = 0;
  if (n == 2) {  // upsampling's usual case: one pass, no accumulator
    const float *s0 = tmp + iy[0] * stride, *s1 = tmp + iy[1] * stride;
    const __m128 w0 = _mm_set1_ps(w[0]), w1 = _mm_set1_ps(w[1]), zero = _mm_setzero_ps();
    for (; e + 16 <= stride; e += 16) {
      __m128 v[4];
      for (int q = 0; q < 4; ++q)
        v[q] = _mm_add_ps(_mm_add_ps(zero, _mm_mul_ps(w0, _mm_loadu_ps(s0 + e + 4 * q))),
                          _mm_mul_ps(w1, _mm_loadu_ps(s1 + e + 4 * q)));
      round_store16(out + e, v);
    }
    for (; e < stride; ++e) out[e] = round_to_u8_cpu(0.0f + w[0] * s0[e] + w[1] * s1[e]);
    return;
  }
  for (std::size_t i = 0; i < stride; ++i) acc[i] = 0.0f;
  for (int k = 0; k < n; ++k) {
    const float wk = w[k];
    const float* s = tmp + iy[k] * stride;
    for (std::size_t i = 0; i < stride; ++i) acc[i] += wk * s[i];
  }
  for (; e + 16 <= stride; e += 16) {
    const __m128 v[4] = {_mm_loadu_ps(acc + e), _mm_loadu_ps(acc + e + 4),
                         _mm_loadu_ps(acc + e + 8), _mm_loadu_ps(acc + e + 12)};
    round_store16(out + e, v);
  }
  for (; e < stride; ++e) out[e] = round_to_u8_cpu(acc[e]);
}

}  // namespace

void resize_cpu(std::uint8_t* out, Dims od, const std::uint8_t* in, Dims id, int top, int left,
                int win_h, int win_w, bool antialias, Scratch& s) {
  const int c = id.c;
  if (!window_inside(top, left, win_h, win_w, id))
    throw std::invalid_argument("resize: window outside the image");
  if (resize_is_copy(win_h, win_w, od)) {
    crop_pad_cpu(out, od, in, id, top, left, PadMode::constant, nullptr, 0, false);
    return;
  }
  const int tx = resize_taps(win_w, od.w, antialias), ty = resize_taps(win_h, od.h, antialias);
  float* wx = grow(s.wx, static_cast<std::size_t>(tx) * od.w);
  float* wy = grow(s.wy, static_cast<std::size_t>(ty) * od.h);
  int* ix = grow(s.ix, static_cast<std::size_t>(tx) * od.w);
  int* iy = grow(s.iy, static_cast<std::size_t>(ty) * od.h);
  int* nx = grow(s.nx, static_cast<std::size_t>(od.w));
  int* ny = grow(s.ny, static_cast<std::size_t>(od.h));
  for (int x = 0; x < od.w; ++x)
    nx[x] = compact_taps(x, win_w, od.w, antialias, tx, ix + x * tx, wx + x * tx);
  for (int y = 0; y < od.h; ++y)
    ny[y] = compact_taps(y, win_h, od.h, antialias, ty, iy + y * ty, wy + y * ty);
  // Horizontal pass first (as PyTorch's separable kernel), kept in float: (win_h, out_w, c).
  const std::size_t in_row = static_cast<std::size_t>(win_w) * c;
  float* tmp = grow(s.tmp, static_cast<std::size_t>(win_h) * od.w * c + 1);
  float* src = grow(s.src_row, in_row + 1);
  for (int y = 0; y < win_h; ++y) {
    const std::uint8_t* row = in + hwc_offset(id, top + y, left);
    for (std::size_t e = 0; e < in_row; ++e) src[e] = static_cast<float>(row[e]);
    float* trow = tmp + static_cast<std::size_t>(y) * od.w * c;
    if (c == 3)
      horizontal_pass_rgb(trow, src, od.w, tx, ix, wx, nx);
    else if (c == 1)
      horizontal_pass<1>(trow, src, od.w, tx, ix, wx, nx, c);
    else
      horizontal_pass<0>(trow, src, od.w, tx, ix, wx, nx, c);
  }
  // Vertical pass, one output row at a time so the inner loops run over contiguous elements.
  const std::size_t stride = static_cast<std::size_t>(od.w) * c;
  float* acc = grow(s.row, stride);
  for (int y = 0; y < od.h; ++y)
    vertical_row(out + y * stride, tmp, iy + y * ty, wy + y * ty, ny[y], stride, acc);
}

}  // namespace ft::aug

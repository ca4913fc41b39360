// Window and index arithmetic of the augmentation ops, written once (FT_HD) for the parameter
// draws, the CPU loops and the CUDA kernels: padded reads, mirrored columns, crop and resize
// windows, the output size of resize and random_crop, and element offsets in HWC / CHW images and
// in an erased box. Integer arithmetic only, so both paths index the same pixels by construction.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/augment/types.hpp"

namespace ft::aug {

// Source index for a padded read: -1 when constant padding applies.
FT_HD inline int pad_index(int i, int n, PadMode m) {
  if (i >= 0 && i < n) return i;
  switch (m) {
    case PadMode::constant:
      return -1;
    case PadMode::edge:
      return i < 0 ? 0 : n - 1;
    case PadMode::reflect: {  // torch "reflect": -1 -> 1, n -> n - 2
      if (n == 1) return 0;
      const int period = 2 * (n - 1);
      i %= period;
      if (i < 0) i += period;
      return i < n ? i : period - i;
    }
    case PadMode::symmetric: {  // "symmetric": -1 -> 0, n -> n - 1
      const int period = 2 * n;
      i %= period;
      if (i < 0) i += period;
      return i < n ? i : period - 1 - i;
    }
  }
  return -1;
}

// Column x of a row `w` wide, read mirrored when `flip` (hflip, or a flip fused into a step).
FT_HD inline int mirror(int x, int w, bool flip) { return flip ? w - 1 - x : x; }

// The source row / column of output pixel (x, y) of a window at (top, left) that may reach into
// padding (crop), the column mirrored when `flip`; -1 where the fill applies.
FT_HD inline int window_row(int top, int y, int in_h, PadMode m) {
  return pad_index(top + y, in_h, m);
}
FT_HD inline int window_col(int left, int x, int out_w, int in_w, PadMode m, bool flip) {
  return pad_index(left + mirror(x, out_w, flip), in_w, m);
}

// A non-empty window entirely inside the image (what resize reads).
FT_HD inline bool window_inside(int top, int left, int h, int w, Dims in) {
  return top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= in.h && left + w <= in.w;
}
// Resizing an h x w window to `out` is a copy (torchvision returns the input unchanged).
FT_HD inline bool resize_is_copy(int h, int w, Dims out) { return h == out.h && w == out.w; }

// Element offsets: pixel (x, y) of a u8 HWC image; element (ch, y, x) of an f32 / bf16 CHW one.
FT_HD inline std::size_t hwc_offset(Dims d, int y, int x) {
  return (static_cast<std::size_t>(y) * d.w + x) * d.c;
}
FT_HD inline std::size_t chw_offset(Dims d, int ch, int y, int x) {
  return (static_cast<std::size_t>(ch) * d.h + y) * d.w + x;
}

// Element e of an erased (c, h, w) box, in the order torch fills its value tensor (the erasing
// noise is drawn by e), and back.
FT_HD inline std::uint32_t box_element(int box_h, int box_w, int ch, int y, int x) {
  return static_cast<std::uint32_t>((ch * box_h + y) * box_w + x);
}
FT_HD inline void box_coords(long e, int box_h, int box_w, int& ch, int& y, int& x) {
  const long plane = static_cast<long>(box_h) * box_w;
  ch = static_cast<int>(e / plane);
  y = static_cast<int>(e % plane / box_w);
  x = static_cast<int>(e % box_w);
}

// Python's round(n / 2) for n >= 0: halves go to the even neighbour.
FT_HD inline int half_round_even(int n) {
  const int k = n / 2;
  return n % 2 == 0 || k % 2 == 0 ? k : k + 1;
}

// torchvision center_crop: pad (before = diff // 2, after = (diff + 1) // 2) when the crop is
// larger, then crop at int(round((padded - crop) / 2)); the window's start in unpadded
// coordinates (negative where it reaches into the padding), one axis.
FT_HD inline int center_crop_start(int in, int crop) {
  const int before = crop > in ? (crop - in) / 2 : 0, after = crop > in ? (crop - in + 1) / 2 : 0;
  return half_round_even(in + before + after - crop) - before;
}

// random_crop's padded image: explicit padding, then pad_if_needed (both sides by the shortfall).
// extra_t / extra_l: the pad_if_needed part before the image.
struct PaddedSize {
  int h = 0, w = 0, extra_t = 0, extra_l = 0;
};
FT_HD inline PaddedSize random_crop_padded(const AugmentOp& op, Dims in) {
  PaddedSize p{in.h + op.pad_t + op.pad_b, in.w + op.pad_l + op.pad_r, 0, 0};
  if (op.pad_if_needed && p.w < op.size_w) {
    p.extra_l = op.size_w - p.w;
    p.w += 2 * p.extra_l;
  }
  if (op.pad_if_needed && p.h < op.size_h) {
    p.extra_t = op.size_h - p.h;
    p.h += 2 * p.extra_t;
  }
  return p;
}

// resize's output: size_h x size_w, or (size_w == 0) torchvision's smaller edge -> size_h, the
// longer int(size * long / short).
FT_HD inline Dims resize_output(Dims in, int size_h, int size_w) {
  if (size_w > 0) return {size_h, size_w, in.c};
  const bool w_short = in.w <= in.h;
  const int s = w_short ? in.w : in.h, l = w_short ? in.h : in.w;
  const int nl = static_cast<int>(static_cast<double>(size_h) * l / s);
  return w_short ? Dims{nl, size_h, in.c} : Dims{size_h, nl, in.c};
}

}  // namespace ft::aug

// kernels/augment/geometry.hpp and the colour tables of pixel.hpp: the window and index
// arithmetic the draws, the CPU loops and the CUDA kernels share, checked against torch's padding
// modes, torchvision's center_crop / resize / RandomCrop sizes, and torchvision's autocontrast and
// equalize formulas.
#include "kernels/augment/geometry.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>

#include "kernels/augment/ops/trivial_augment_wide.hpp"
#include "kernels/augment/pixel.hpp"

namespace ft::aug {

TEST_CASE("pad_index: torch's constant, replicate, reflect and symmetric padding of 0 1 2 3") {
  // torch.nn.functional.pad(arange(4), (3, 3), mode) and numpy's "symmetric".
  const int constant[10] = {-1, -1, -1, 0, 1, 2, 3, -1, -1, -1};
  const int edge[10] = {0, 0, 0, 0, 1, 2, 3, 3, 3, 3};
  const int reflect[10] = {3, 2, 1, 0, 1, 2, 3, 2, 1, 0};
  const int symmetric[10] = {2, 1, 0, 0, 1, 2, 3, 3, 2, 1};
  for (int i = -3; i < 7; ++i) {
    CAPTURE(i);
    CHECK(pad_index(i, 4, PadMode::constant) == constant[i + 3]);
    CHECK(pad_index(i, 4, PadMode::edge) == edge[i + 3]);
    CHECK(pad_index(i, 4, PadMode::reflect) == reflect[i + 3]);
    CHECK(pad_index(i, 4, PadMode::symmetric) == symmetric[i + 3]);
  }
  CHECK(pad_index(-5, 1, PadMode::reflect) == 0);
}

TEST_CASE("window_row / window_col: a window into padding, mirrored by a flip") {
  CHECK(window_row(-2, 1, 5, PadMode::constant) == -1);
  CHECK(window_row(-2, 2, 5, PadMode::constant) == 0);
  // A 3-wide window at left 1 of a 5-wide row: columns 1 2 3, flipped 3 2 1.
  for (int x = 0; x < 3; ++x) {
    CHECK(window_col(1, x, 3, 5, PadMode::constant, false) == 1 + x);
    CHECK(window_col(1, x, 3, 5, PadMode::constant, true) == 3 - x);
  }
  CHECK(mirror(0, 7, true) == 6);
  CHECK(mirror(4, 7, false) == 4);
}

TEST_CASE("window_inside and resize_is_copy") {
  const Dims d{10, 8, 3};
  CHECK(window_inside(0, 0, 10, 8, d));
  CHECK(window_inside(2, 3, 8, 5, d));
  CHECK_FALSE(window_inside(3, 0, 8, 8, d));
  CHECK_FALSE(window_inside(0, -1, 4, 4, d));
  CHECK_FALSE(window_inside(0, 0, 0, 4, d));
  CHECK(resize_is_copy(4, 6, Dims{4, 6, 1}));
  CHECK_FALSE(resize_is_copy(4, 6, Dims{6, 4, 1}));
}

TEST_CASE("element offsets: HWC pixels, CHW elements, and an erased box's order both ways") {
  const Dims d{3, 5, 3};
  CHECK(hwc_offset(d, 2, 4) == (2 * 5 + 4) * 3);
  CHECK(chw_offset(d, 2, 1, 3) == 2 * 15 + 1 * 5 + 3);
  std::uint32_t e = 0;
  for (int ch = 0; ch < 3; ++ch)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 7; ++x, ++e) {
        CHECK(box_element(4, 7, ch, y, x) == e);  // torch fills (c, h, w) row-major
        int c2 = -1, y2 = -1, x2 = -1;
        box_coords(e, 4, 7, c2, y2, x2);
        CHECK((c2 == ch && y2 == y && x2 == x));
      }
}

TEST_CASE("center_crop_start: torchvision's int(round((padded - crop) / 2)) minus the padding") {
  for (int n = 0; n < 200; ++n)
    CHECK(half_round_even(n) == static_cast<int>(std::nearbyint(n / 2.0)));
  CHECK(center_crop_start(5, 2) == 2);  // round(1.5) = 2
  CHECK(center_crop_start(7, 2) == 2);  // round(2.5) = 2
  CHECK(center_crop_start(28, 24) == 2);
  CHECK(center_crop_start(3, 6) == -1);  // padded 1 before, 2 after: the window starts in padding
  CHECK(center_crop_start(4, 7) == -1);
  CHECK(center_crop_start(6, 6) == 0);
}

TEST_CASE("random_crop_padded: explicit padding, then pad_if_needed on both sides") {
  AugmentOp op;
  op.kind = OpKind::random_crop;
  op.size_h = 32;
  op.size_w = 32;
  op.pad_l = op.pad_t = op.pad_r = op.pad_b = 4;
  PaddedSize p = random_crop_padded(op, Dims{28, 28, 1});
  CHECK((p.h == 36 && p.w == 36 && p.extra_t == 0 && p.extra_l == 0));
  op.pad_l = op.pad_t = op.pad_r = op.pad_b = 0;
  op.pad_if_needed = true;
  p = random_crop_padded(op, Dims{28, 30, 1});
  CHECK((p.h == 36 && p.extra_t == 4 && p.w == 34 && p.extra_l == 2));
}

TEST_CASE("resize_output: both sizes, or the smaller edge with int(size * long / short)") {
  CHECK(resize_output(Dims{28, 40, 3}, 14, 0) == Dims{14, 20, 3});
  CHECK(resize_output(Dims{40, 28, 1}, 14, 0) == Dims{20, 14, 1});
  CHECK(resize_output(Dims{64, 64, 3}, 232, 0) == Dims{232, 232, 3});
  CHECK(resize_output(Dims{3, 7, 3}, 10, 0) == Dims{10, 23, 3});  // int(23.33)
  CHECK(resize_output(Dims{30, 40, 3}, 12, 16) == Dims{12, 16, 3});
}

TEST_CASE("autocontrast_lut: (v - lo) * (255 / (hi - lo)) truncated; a flat channel unchanged") {
  std::uint8_t lut[256];
  autocontrast_lut(10, 20, lut);
  CHECK(lut[5] == 0);
  CHECK(lut[10] == 0);
  CHECK(lut[15] == 127);  // 5 * 25.5 = 127.5, truncated
  CHECK(lut[20] == 255);
  CHECK(lut[200] == 255);
  autocontrast_lut(77, 77, lut);
  for (int v = 0; v < 256; ++v) CHECK(lut[v] == v);
}

TEST_CASE("equalize_lut: torchvision's _scale_channel, for any histogram count type") {
  std::int64_t h64[256] = {};
  unsigned int h32[256] = {};
  std::uint8_t a[256], b[256];
  h64[9] = h32[9] = 100;  // one value: step 0, unchanged
  equalize_lut(h64, 100, a);
  for (int v = 0; v < 256; ++v) CHECK(a[v] == v);
  // 0 x 100, 64 x 300, 200 x 110: step = (510 - 110) // 255 = 1; v -> count below v (+ 0).
  h64[9] = h32[9] = 0;
  h64[0] = h32[0] = 100;
  h64[64] = h32[64] = 300;
  h64[200] = h32[200] = 110;
  equalize_lut(h64, 510, a);
  equalize_lut(h32, 510, b);
  CHECK(a[0] == 0);
  CHECK(a[64] == 100);
  CHECK(a[200] == 255);  // 400, clamped
  for (int v = 0; v < 256; ++v) CHECK(a[v] == b[v]);
}

}  // namespace ft::aug

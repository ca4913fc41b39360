// Every augment op against torchvision 0.14 tensor-path outputs with fixed parameters
// (tests/fixtures/augment/ops.bin). Tolerances are stated per op with the reason.
#include "kernels/augment/ops.hpp"

#include <doctest/doctest.h>

#include <cmath>

#include "kernels/augment/pixel.hpp"
#include "tests/kernels/augment/fixture.hpp"

using namespace ft::aug;
using ft::aug::test::count_mismatches;
using ft::aug::test::fixture;
using ft::aug::test::fixtures_with;
using ft::aug::test::Record;

namespace {

const Record& input_of(const Record& r) { return fixture(r.input); }

// A normalize record's params [n, mean..., std...]: fills mean and stdev, returns n.
int normalize_params(const Record& r, float* mean, float* stdev) {
  const int n = int(r.params[0]);
  for (int k = 0; k < n; ++k) {
    mean[k] = float(r.params[1 + k]);
    stdev[k] = float(r.params[1 + n + k]);
  }
  return n;
}

}  // namespace

TEST_CASE("fixtures load and cover every op family") {
  for (const char* p :
       {"resize/", "resize_short/", "center_crop/", "random_crop/", "hflip/", "rotate/",
        "normalize/", "normalize_bf16/", "ta/", "ta_magnitudes/", "erase/"})
    CHECK_MESSAGE(fixtures_with(p).size() > 0, p);
}

TEST_CASE("resize matches torchvision (bilinear, antialias on and off, crop windows)") {
  Scratch s;
  for (const Record* r : fixtures_with("resize/")) {
    const Record& in = input_of(*r);
    const auto& p = r->params;
    const Dims od{int(p[0]), int(p[1]), in.dims.c};
    REQUIRE(od == r->dims);
    std::vector<std::uint8_t> out(od.numel());
    resize_cpu(out.data(), od, in.u8.data(), in.dims, int(p[3]), int(p[4]), int(p[5]), int(p[6]),
               p[2] != 0, s);
    // 1 level: float32 sums in a different order than PyTorch's kernel can land on the other side
    // of a .5 rounding boundary.
    CHECK_MESSAGE(count_mismatches(r->name, out.data(), r->u8.data(), out.size(), 1) == 0, r->name);
  }
}

TEST_CASE("resize to the smaller edge follows torchvision's int size") {
  Scratch s;
  for (const Record* r : fixtures_with("resize_short/")) {
    const Record& in = input_of(*r);
    AugmentOp op{.kind = OpKind::resize, .size_h = int(r->params[0])};
    const Dims od = op_output_dims(op, in.dims);
    REQUIRE(od == r->dims);
    std::vector<std::uint8_t> out(od.numel());
    const OpDraw d = draw_op(op, in.dims, 0, 0, 0, 0);
    apply_u8_op_cpu(op, d, out.data(), od, in.u8.data(), in.dims, s);
    // 1 level: summation order (see above).
    CHECK(count_mismatches(r->name, out.data(), r->u8.data(), out.size(), 1) == 0);
  }
}

TEST_CASE("center_crop matches torchvision, including padding and rounding") {
  Scratch s;
  for (const Record* r : fixtures_with("center_crop/")) {
    const Record& in = input_of(*r);
    AugmentOp op{
        .kind = OpKind::center_crop, .size_h = int(r->params[0]), .size_w = int(r->params[1])};
    const Dims od = op_output_dims(op, in.dims);
    REQUIRE(od == r->dims);
    std::vector<std::uint8_t> out(od.numel());
    apply_u8_op_cpu(op, draw_op(op, in.dims, 0, 0, 0, 0), out.data(), od, in.u8.data(), in.dims, s);
    // Exact: pure copies.
    CHECK_MESSAGE(count_mismatches(r->name, out.data(), r->u8.data(), out.size(), 0) == 0, r->name);
  }
}

TEST_CASE("random_crop's pad + crop matches torchvision for every padding mode") {
  for (const Record* r : fixtures_with("random_crop/")) {
    const Record& in = input_of(*r);
    const auto& p = r->params;  // pad l t r b, mode, fill, i, j, h, w
    const Dims od{int(p[8]), int(p[9]), in.dims.c};
    REQUIRE(od == r->dims);
    std::vector<std::uint8_t> out(od.numel());
    const float fill = float(p[5]);
    crop_pad_cpu(out.data(), od, in.u8.data(), in.dims, int(p[6]) - int(p[1]),
                 int(p[7]) - int(p[0]), static_cast<PadMode>(int(p[4])), &fill, 1, false);
    CHECK_MESSAGE(count_mismatches(r->name, out.data(), r->u8.data(), out.size(), 0) == 0, r->name);
  }
}

TEST_CASE("hflip matches torchvision") {
  Scratch s;
  for (const Record* r : fixtures_with("hflip/")) {
    const Record& in = input_of(*r);
    AugmentOp op{.kind = OpKind::hflip, .p = 1.0f};
    const OpDraw d = draw_op(op, in.dims, 1, 2, 3, 4);
    REQUIRE(d.flip);
    std::vector<std::uint8_t> out(in.dims.numel());
    apply_u8_op_cpu(op, d, out.data(), in.dims, in.u8.data(), in.dims, s);
    CHECK(count_mismatches(r->name, out.data(), r->u8.data(), out.size(), 0) == 0);
  }
}

TEST_CASE("rotate matches torchvision (center, sign, fill blend, nearest)") {
  for (const Record* r : fixtures_with("rotate/")) {
    const Record& in = input_of(*r);
    const double angle = r->params[0];
    const bool nearest = r->params[1] != 0;
    const float fill = float(r->params[2]);
    float m[6];
    inverse_affine_matrix(m, 0, 0, -angle, 0, 0, 1, 0, 0);  // F.rotate negates the angle
    std::vector<std::uint8_t> out(in.dims.numel());
    affine_cpu(out.data(), in.u8.data(), in.dims, m, nearest ? Interp::nearest : Interp::bilinear,
               true, &fill, 1);
    // Bilinear: 1 level (float32 grid arithmetic, rounding boundary). Nearest: a source
    // coordinate within float32 rounding of .5 may pick the neighbour, so allow 2% of elements.
    const int bad =
        count_mismatches(r->name, out.data(), r->u8.data(), out.size(), nearest ? 0 : 1);
    CHECK_MESSAGE(bad <= (nearest ? int(out.size() / 50) : 0), r->name);
  }
}

TEST_CASE("normalize matches torchvision (u8 HWC -> f32 CHW)") {
  for (const Record* r : fixtures_with("normalize/")) {
    const Record& in = input_of(*r);
    float mean[4], stdev[4];
    const int n = normalize_params(*r, mean, stdev);
    std::vector<float> out(in.dims.numel());
    normalize_cpu(out.data(), in.u8.data(), in.dims, mean, stdev, n);
    // 1e-6: same float32 operations; torch may fuse the divide differently (a few ulps).
    CHECK(count_mismatches(r->name, out.data(), r->f.data(), out.size(), 1e-6f) == 0);
  }
}

TEST_CASE("normalize to bf16 matches torchvision's .to(torch.bfloat16)") {
  int exact = 0, total = 0;
  for (const Record* r : fixtures_with("normalize_bf16/")) {
    const Record& in = input_of(*r);
    float mean[4], stdev[4];
    const int n = normalize_params(*r, mean, stdev);
    std::vector<std::uint16_t> out(in.dims.numel());
    normalize_cpu(out.data(), in.u8.data(), in.dims, mean, stdev, n);
    for (std::size_t i = 0; i < out.size(); ++i) {
      const float got = bf16_to_f32(out[i]), want = r->f[i];
      // Equal, except where torch's f32 value (within 1e-6 of ours, see above) sits on the other
      // side of a bf16 rounding boundary: then one bf16 step (2^-8 relative) apart.
      CHECK_MESSAGE(std::fabs(got - want) <= std::fabs(want) / 128.0f + 1e-30f,
                    r->name << " element " << i);
      exact += got == want;
      ++total;
    }
  }
  CHECK(total > 0);
  CHECK(exact >= total * 99 / 100);
}

TEST_CASE("bf16 rounding is to nearest even, NaN stays NaN, and widening is exact") {
  CHECK(f32_to_bf16(1.0f) == 0x3F80);
  CHECK(f32_to_bf16(-2.0f) == 0xC000);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  CHECK(f32_to_bf16(1.0f + 1.0f / 256) == 0x3F80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
  CHECK(f32_to_bf16(1.0f + 3.0f / 256) == 0x3F82);
  CHECK(f32_to_bf16(1.0f + 1.0f / 256 + 1.0f / 65536) == 0x3F81);  // above halfway rounds up
  CHECK(f32_to_bf16(std::nanf("")) == 0x7FC0);
  CHECK(std::isinf(bf16_to_f32(f32_to_bf16(INFINITY))));
  for (std::uint32_t b = 0; b < 0x10000; b += 7) {
    const auto h = static_cast<std::uint16_t>(b);
    const float v = bf16_to_f32(h);
    if (!std::isnan(v)) CHECK(f32_to_bf16(v) == h);
  }
}

TEST_CASE("trivial_augment_wide magnitude tables equal torchvision's") {
  for (const Record* r : fixtures_with("ta_magnitudes/")) {
    const auto t = static_cast<TaOp>(int(r->params[0]));
    REQUIRE(r->f.size() == 31u);
    for (int b = 0; b < 31; ++b)
      CHECK_MESSAGE(ta_magnitude(t, b, 31) == r->f[b], r->name << " bin " << b);
  }
}

TEST_CASE("trivial_augment_wide ops match torchvision at fixed magnitudes") {
  Scratch s;
  AugmentOp op{.kind = OpKind::trivial_augment_wide, .interp = Interp::nearest, .has_fill = false};
  for (const Record* r : fixtures_with("ta/")) {
    const Record& in = input_of(*r);
    OpDraw d;
    d.ta = static_cast<TaOp>(int(r->params[0]));
    d.magnitude = float(r->params[1]);
    ta_geometry(d, in.dims);
    std::vector<std::uint8_t> out(in.dims.numel());
    apply_u8_op_cpu(op, d, out.data(), in.dims, in.u8.data(), in.dims, s);
    const bool geometric = d.ta >= TaOp::shear_x && d.ta <= TaOp::rotate;
    // Colour ops: 1 level (float32 blend / 3x3 blur sums in another order, truncating casts).
    // Geometric ops are nearest-neighbour: a coordinate within float32 rounding of .5 may pick the
    // neighbour, so allow 2% of elements to differ.
    const int bad =
        count_mismatches(r->name, out.data(), r->u8.data(), out.size(), geometric ? 0 : 1);
    CHECK_MESSAGE(bad <= (geometric ? int(out.size() / 50) : 0), r->name);
  }
}

TEST_CASE("random_erasing's erase matches torchvision's F.erase") {
  const Record& norm = fixture("norm_rgb13x17");
  for (const Record* r : fixtures_with("erase/")) {
    std::vector<float> img = norm.f;
    const Dims d{norm.dims.h, norm.dims.w, norm.dims.c};
    OpDraw box;
    box.top = int(r->params[0]);
    box.left = int(r->params[1]);
    box.h = int(r->params[2]);
    box.w = int(r->params[3]);
    AugmentOp op{.kind = OpKind::random_erasing};
    op.fill[0] = float(r->params[4]);
    erase_cpu(img.data(), d, box, op, 0, 0, 0, 0);
    CHECK(count_mismatches(r->name, img.data(), r->f.data(), img.size(), 0.0f) == 0);
  }
}

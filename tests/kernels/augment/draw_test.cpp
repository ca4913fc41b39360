// Random-parameter sampling (ranges, p = 0 / 1, distribution sanity, determinism per
// (seed, epoch, sample, op)), the chain driver, edge cases and chain validation errors.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <stdexcept>
#include <string>

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/random_erasing.hpp"

using namespace ft::aug;

namespace {

std::vector<std::uint8_t> textured(Dims d, int salt = 0) {
  std::vector<std::uint8_t> v(d.numel());
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<std::uint8_t>((i * 31 + (i / 7) * 3 + salt) % 251);
  return v;
}

std::vector<AugmentOp> seed_chain() {
  AugmentOp norm{.kind = OpKind::normalize};
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdev[3] = {0.229f, 0.224f, 0.225f};
  for (int k = 0; k < 3; ++k) {
    norm.mean[k] = mean[k];
    norm.std[k] = stdev[k];
  }
  norm.n_stats = 3;
  return {
      AugmentOp{.kind = OpKind::resize, .size_h = 224, .size_w = 224},
      AugmentOp{.kind = OpKind::random_resized_crop, .size_h = 224, .size_w = 224},
      AugmentOp{.kind = OpKind::hflip, .p = 0.5f},
      AugmentOp{.kind = OpKind::trivial_augment_wide, .interp = Interp::nearest, .has_fill = false},
      norm,
      AugmentOp{.kind = OpKind::random_erasing,
                .p = 0.5f,
                .scale_lo = 0.02f,
                .scale_hi = 0.33f,
                .ratio_lo = 0.3f,
                .ratio_hi = 3.3f,
                .random_value = true}};
}

}  // namespace

TEST_CASE("hflip: p = 0 never flips, p = 1 always, p = 0.5 about half") {
  int flips[3] = {0, 0, 0};
  const float ps[3] = {0.0f, 1.0f, 0.5f};
  for (int k = 0; k < 3; ++k)
    for (int s = 0; s < 4000; ++s)
      flips[k] += draw_op(AugmentOp{.kind = OpKind::hflip, .p = ps[k]}, {8, 8, 3}, 7, 1, s, 2).flip;
  CHECK(flips[0] == 0);
  CHECK(flips[1] == 4000);
  CHECK(std::abs(flips[2] - 2000) < 200);  // ~6 sigma of a binomial(4000, 0.5)
}

TEST_CASE("draws are a pure function of (seed, epoch, sample, op)") {
  const AugmentOp rot{.kind = OpKind::rotate, .degrees = 30.0f};
  const Dims d{16, 16, 1};
  CHECK(draw_op(rot, d, 1, 2, 3, 4).magnitude == draw_op(rot, d, 1, 2, 3, 4).magnitude);
  std::set<float> angles;
  for (std::uint64_t seed : {1u, 2u})
    for (std::uint32_t epoch : {1u, 2u})
      for (std::uint64_t sample : {3u, 4u})
        for (std::uint32_t op : {0u, 1u})
          angles.insert(draw_op(rot, d, seed, epoch, sample, op).magnitude);
  CHECK(angles.size() == 16u);  // every coordinate changes the draw
}

TEST_CASE("rotate angles stay in [-degrees, degrees] and are centred") {
  double sum = 0;
  for (int s = 0; s < 2000; ++s) {
    const float a =
        draw_op(AugmentOp{.kind = OpKind::rotate, .degrees = 10.0f}, {8, 8, 1}, 0, 1, s, 0)
            .magnitude;
    CHECK(a >= -10.0f);
    CHECK(a <= 10.0f);
    sum += a;
  }
  CHECK(std::abs(sum / 2000) < 0.6);  // sd of the mean: 10 / sqrt(3 * 2000) ~ 0.13
}

TEST_CASE("random_crop windows cover every position of the padded image") {
  const AugmentOp op{.kind = OpKind::random_crop,
                     .size_h = 28,
                     .size_w = 28,
                     .pad_l = 2,
                     .pad_t = 2,
                     .pad_r = 2,
                     .pad_b = 2};
  std::set<std::pair<int, int>> seen;
  for (int s = 0; s < 3000; ++s) {
    const OpDraw d = draw_op(op, {28, 28, 1}, 3, 1, s, 0);
    CHECK(d.top >= -2);
    CHECK(d.top <= 2);
    CHECK(d.left >= -2);
    CHECK(d.left <= 2);
    seen.insert({d.top, d.left});
  }
  CHECK(seen.size() == 25u);
}

TEST_CASE("random_resized_crop boxes respect scale, ratio and the image; fallback is central") {
  const AugmentOp op{.kind = OpKind::random_resized_crop, .size_h = 32, .size_w = 32};
  const Dims in{60, 80, 3};
  for (int s = 0; s < 2000; ++s) {
    const OpDraw d = draw_op(op, in, 5, 1, s, 1);
    REQUIRE(d.h > 0);
    REQUIRE(d.w > 0);
    CHECK(d.top >= 0);
    CHECK(d.left >= 0);
    CHECK(d.top + d.h <= in.h);
    CHECK(d.left + d.w <= in.w);
    const double area = double(d.h) * d.w / (in.h * in.w);
    CHECK(area >= 0.08 * 0.8);  // rounding of h and w moves the area a little
    CHECK(area <= 1.0);
  }
  // An impossible scale range forces torchvision's fallback: a central crop with the ratio clamped.
  AugmentOp wide = op;
  wide.scale_lo = 2.0f;
  wide.scale_hi = 3.0f;
  const OpDraw f =
      draw_op(wide, {10, 40, 1}, 0, 1, 0, 0);  // ratio 4 > 4/3: h = 10, w = round(10 * 4/3)
  CHECK(f.h == 10);
  CHECK(f.w == 13);
  CHECK(f.top == 0);
  CHECK(f.left == (40 - 13) / 2);
}

TEST_CASE("trivial_augment_wide draws every op, magnitudes from the table, both signs") {
  const AugmentOp op{
      .kind = OpKind::trivial_augment_wide, .interp = Interp::nearest, .has_fill = false};
  std::set<int> ops;
  bool neg = false, pos = false;
  for (int s = 0; s < 3000; ++s) {
    const OpDraw d = draw_op(op, {20, 20, 3}, 1, 1, s, 3);
    ops.insert(static_cast<int>(d.ta));
    if (ta_signed(d.ta)) {
      bool found = false;
      for (int b = 0; b < 31; ++b) found |= std::fabs(d.magnitude) == ta_magnitude(d.ta, b, 31);
      CHECK(found);
      neg |= d.magnitude < 0;
      pos |= d.magnitude > 0;
    }
    if (d.ta == TaOp::posterize) CHECK((d.magnitude >= 2 && d.magnitude <= 8));
  }
  CHECK(ops.size() == size_t(kNumTaOps));
  CHECK(neg);
  CHECK(pos);
}

TEST_CASE("random_erasing: p = 0 never erases; boxes stay strictly inside; noise is N(0, 1)") {
  AugmentOp op{.kind = OpKind::random_erasing,
               .p = 0.0f,
               .scale_lo = 0.02f,
               .scale_hi = 0.33f,
               .ratio_lo = 0.3f,
               .ratio_hi = 3.3f};
  for (int s = 0; s < 200; ++s) CHECK_FALSE(draw_op(op, {32, 32, 3}, 0, 1, s, 5).apply);
  op.p = 1.0f;
  int applied = 0;
  for (int s = 0; s < 1000; ++s) {
    const OpDraw d = draw_op(op, {32, 32, 3}, 0, 1, s, 5);
    if (!d.apply) continue;
    ++applied;
    CHECK(d.h < 32);
    CHECK(d.w < 32);
    CHECK(d.top + d.h <= 32);
    CHECK(d.left + d.w <= 32);
  }
  CHECK(applied > 900);  // only a box that fails 10 tries is skipped
  op.random_value = true;
  std::vector<float> img(3 * 64 * 64, 100.0f);
  OpDraw box;
  box.top = box.left = 0;
  box.h = box.w = 64;
  erase_cpu(img.data(), {64, 64, 3}, box, op, 1, 2, 3, 4);
  double m = 0, m2 = 0;
  for (float v : img) {
    m += v;
    m2 += double(v) * v;
  }
  m /= img.size();
  m2 = m2 / img.size() - m * m;
  CHECK(std::abs(m) < 0.05);  // 12288 samples: sd of the mean ~0.009
  CHECK(std::abs(m2 - 1.0) < 0.06);
  // The CPU loop's pairwise noise equals erase_noise element by element (the CUDA kernel's form),
  // for an odd-sized box inside a larger image.
  std::vector<float> part(3 * 9 * 8, 5.0f);
  OpDraw small;
  small.top = 2;
  small.left = 1;
  small.h = 5;
  small.w = 3;
  erase_cpu(part.data(), {9, 8, 3}, small, op, 11, 3, 77, 2);
  for (int ch = 0; ch < 3; ++ch)
    for (int y = 0; y < 9; ++y)
      for (int x = 0; x < 8; ++x) {
        const bool inside = y >= 2 && y < 7 && x >= 1 && x < 4;
        const auto e = static_cast<std::uint32_t>((ch * 5 + y - 2) * 3 + x - 1);
        CHECK(part[(ch * 9 + y) * 8 + x] == (inside ? erase_noise(11, 3, 77, 2, e) : 5.0f));
      }
}

TEST_CASE("the seed chain plans 224x224 f32, runs deterministically and differs across epochs") {
  const auto ops = seed_chain();
  validate_ops(ops);
  const Dims in{64, 64, 3};
  const Plan plan = plan_output(ops, in);
  CHECK(plan.f32);
  CHECK(plan.dims == Dims{224, 224, 3});
  const auto img = textured(in);
  std::vector<float> a(plan.dims.numel()), b(plan.dims.numel()), c(plan.dims.numel());
  Scratch s1, s2;
  apply_ops_cpu(ops, img.data(), in, nullptr, a.data(), 9, 1, 17, s1);
  apply_ops_cpu(ops, img.data(), in, nullptr, b.data(), 9, 1, 17, s2);
  apply_ops_cpu(ops, img.data(), in, nullptr, c.data(), 9, 2, 17, s1);
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("edge cases: 1x1 images, crops larger than the image, gray and RGB") {
  Scratch s;
  for (int ch : {1, 3}) {
    const Dims in{1, 1, ch};
    const auto img = textured(in, 5);
    std::vector<AugmentOp> ops = {
        AugmentOp{.kind = OpKind::center_crop, .size_h = 3, .size_w = 3},
        AugmentOp{.kind = OpKind::rotate, .degrees = 45.0f},
        AugmentOp{.kind = OpKind::random_resized_crop, .size_h = 4, .size_w = 2},
        AugmentOp{
            .kind = OpKind::trivial_augment_wide, .interp = Interp::nearest, .has_fill = false},
        AugmentOp{.kind = OpKind::hflip, .p = 1.0f}};
    const Plan plan = plan_output(ops, in);
    CHECK(plan.dims == Dims{4, 2, ch});
    std::vector<std::uint8_t> out(plan.dims.numel());
    for (int sample = 0; sample < 50; ++sample)
      apply_ops_cpu(ops, img.data(), in, out.data(), nullptr, 1, 1, sample, s);
    // A center crop larger than the image pads with zeros around the single pixel.
    std::vector<std::uint8_t> crop(9 * ch);
    const AugmentOp cc{.kind = OpKind::center_crop, .size_h = 3, .size_w = 3};
    apply_u8_op_cpu(cc, draw_op(cc, in, 0, 0, 0, 0), crop.data(), {3, 3, ch}, img.data(), in, s);
    for (int i = 0; i < 9; ++i)
      for (int k = 0; k < ch; ++k) CHECK(crop[i * ch + k] == (i == 4 ? img[k] : 0));
  }
  // to_rgb repeats a gray channel.
  const std::uint8_t g[2] = {10, 200};
  std::uint8_t rgb[6];
  to_rgb_cpu(rgb, g, {1, 2, 1});
  CHECK(rgb[0] == 10);
  CHECK(rgb[2] == 10);
  CHECK(rgb[3] == 200);
  CHECK(rgb[5] == 200);
}

TEST_CASE("chain errors name the op and the problem") {
  AugmentOp norm{.kind = OpKind::normalize};
  norm.n_stats = 3;
  const AugmentOp flip{.kind = OpKind::hflip};
  const AugmentOp erase{.kind = OpKind::random_erasing};
  CHECK_THROWS_WITH_AS(validate_ops({norm, flip}),
                       doctest::Contains("op 1 (hflip) comes after normalize"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(validate_ops({erase, norm}),
                       doctest::Contains("op 0 (random_erasing) works on the normalized"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(plan_output({norm}, {4, 4, 1}),
                       doctest::Contains("3 means/stds for a 1-channel image"),
                       std::invalid_argument);
  const AugmentOp crop{.kind = OpKind::random_crop, .size_h = 10, .size_w = 10};
  CHECK_THROWS_WITH_AS(plan_output({crop}, {8, 8, 1}),
                       doctest::Contains("larger than the padded image 8x8"),
                       std::invalid_argument);
  AugmentOp padded = crop;
  padded.pad_if_needed = true;
  CHECK(plan_output({padded}, {8, 8, 1}).dims == Dims{10, 10, 1});
}

// The CPU loops written for speed against the per-pixel definitions they replace, bit for bit: the
// affine warp (row at a time, SSE taps, RGB as one vector) against affine_pixel; resize (float
// source rows, fused vertical taps) against the plain separable loops; trivial_augment_wide's
// colour ops (tables, sharpness by rows) against their per-pixel formulas; random_erasing's noise
// (SSE Philox and Box-Muller) against erase_noise element by element; and the chain's fusions
// (an hflip deferred past commuting ops and folded into normalize, normalize through tables)
// against the same ops run one by one. Many seeds, 1, 3 and 4 channels, odd and tiny sizes,
// fills, p = 0 and 1.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/augment/affine.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/normalize.hpp"
#include "kernels/augment/ops/random_erasing.hpp"
#include "kernels/augment/ops/resize.hpp"
#include "kernels/augment/ops/trivial_augment_wide.hpp"
#include "kernels/augment/pixel.hpp"
#include "kernels/random/philox.hpp"
#include "tests/kernels/augment/affine_reference.hpp"

using namespace ft::aug;

namespace {

std::vector<std::uint8_t> image(Dims d, std::uint32_t seed) {
  std::vector<std::uint8_t> v(d.numel());
  ft::rng::Philox r(seed, 0, 0, 0);
  for (std::size_t i = 0; i < v.size(); ++i)  // smooth ramps with noise, and some 0 / 255 runs
    v[i] = static_cast<std::uint8_t>(i % 7 == 0 ? 255 * (i % 2) : (i * 3 + r.below(40)) % 256);
  return v;
}

const Dims kSizes[] = {{1, 1, 3},  {2, 3, 1},   {5, 7, 3},   {17, 13, 3}, {13, 17, 1},
                       {9, 11, 4}, {33, 64, 3}, {64, 64, 3}, {3, 5, 4}};

}  // namespace

TEST_CASE("the row-wise affine warp equals affine_pixel at every pixel") {
  int cases = 0;
  for (const Dims d : kSizes)
    for (std::uint32_t seed = 0; seed < 24; ++seed) {
      ft::rng::Philox r(seed, 1, d.h, d.w);
      // Angles to +-180 deg, shears, translations past the border, scales that shrink and grow.
      float m[6];
      inverse_affine_matrix(m, 0.0, 0.0, r.uniform(-180.0f, 180.0f), r.uniform(-1.5f, 1.5f) * d.w,
                            r.uniform(-1.5f, 1.5f) * d.h, r.uniform(0.3f, 2.0f),
                            r.uniform(-40.0f, 40.0f), r.uniform(-40.0f, 40.0f));
      const std::vector<std::uint8_t> in = image(d, seed);
      const float fill[4] = {r.uniform(0.0f, 255.0f), 0.5f, 254.5f, 255.0f};
      for (const Interp interp : {Interp::nearest, Interp::bilinear})
        for (const bool has_fill : {false, true})
          for (const int n_fill : {1, d.c}) {
            std::vector<std::uint8_t> got(d.numel());
            affine_cpu(got.data(), in.data(), d, m, interp, has_fill, fill, n_fill);
            const auto want = testing::affine_reference(in, d, m, interp, has_fill, fill, n_fill);
            CAPTURE(d.h);
            CAPTURE(d.w);
            CAPTURE(d.c);
            CAPTURE(seed);
            REQUIRE(got == want);
            ++cases;
          }
    }
  CHECK(cases > 500);
}

namespace {

// The separable resize as written before the fast loops: u8 taps per element, an accumulator
// row per tap.
std::vector<std::uint8_t> resize_reference(const std::vector<std::uint8_t>& in, Dims id, Dims od,
                                           int top, int left, int wh, int ww, bool aa) {
  const int c = id.c, tx = resize_taps(ww, od.w, aa), ty = resize_taps(wh, od.h, aa);
  std::vector<int> ix(tx), iy(ty);
  std::vector<float> wx(tx), wy(ty), tmp(static_cast<std::size_t>(wh) * od.w * c);
  for (int y = 0; y < wh; ++y)
    for (int x = 0; x < od.w; ++x) {
      resize_weights(x, ww, od.w, aa, ix.data(), wx.data());
      for (int ch = 0; ch < c; ++ch) {
        float acc = 0.0f;
        for (int k = 0; k < tx; ++k)
          if (wx[k] != 0.0f)
            acc += wx[k] * static_cast<float>(in[hwc_offset(id, top + y, left + ix[k]) + ch]);
        tmp[(static_cast<std::size_t>(y) * od.w + x) * c + ch] = acc;
      }
    }
  std::vector<std::uint8_t> out(od.numel());
  for (int y = 0; y < od.h; ++y) {
    resize_weights(y, wh, od.h, aa, iy.data(), wy.data());
    for (std::size_t e = 0; e < static_cast<std::size_t>(od.w) * c; ++e) {
      float acc = 0.0f;
      for (int k = 0; k < ty; ++k)
        if (wy[k] != 0.0f) acc += wy[k] * tmp[iy[k] * static_cast<std::size_t>(od.w) * c + e];
      out[y * static_cast<std::size_t>(od.w) * c + e] = round_to_u8(acc);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("resize equals the plain separable loops (up, down, windows, antialias on and off)") {
  Scratch s;
  const Dims ins[] = {{17, 13, 3}, {64, 64, 3}, {40, 9, 1}, {7, 30, 4}};
  const int outs[][2] = {{224, 224}, {5, 3}, {31, 17}, {1, 1}, {64, 13}, {9, 100}};
  for (const Dims id : ins)
    for (const auto& o : outs)
      for (const bool aa : {false, true})
        for (std::uint32_t seed = 0; seed < 3; ++seed) {
          const std::vector<std::uint8_t> in = image(id, seed);
          const int wh = seed == 0 ? id.h : 1 + id.h / 2, ww = seed == 0 ? id.w : 1 + id.w / 3;
          const int top = (id.h - wh) / 2, left = id.w - ww;
          const Dims od{o[0], o[1], id.c};
          if (wh == od.h && ww == od.w) continue;  // a copy, not a resize
          std::vector<std::uint8_t> got(od.numel());
          resize_cpu(got.data(), od, in.data(), id, top, left, wh, ww, aa, s);
          CAPTURE(od.h);
          CAPTURE(od.w);
          REQUIRE(got == resize_reference(in, id, od, top, left, wh, ww, aa));
        }
}

TEST_CASE("trivial_augment_wide's colour ops equal their per-pixel formulas") {
  const TaOp ops[] = {TaOp::brightness, TaOp::contrast, TaOp::posterize, TaOp::solarize,
                      TaOp::sharpness};
  for (const Dims d : kSizes)
    for (const TaOp t : ops)
      for (const float mag : {-0.99f, -0.3f, 0.0f, 0.45f, 0.99f}) {
        const float m = t == TaOp::posterize  ? 2.0f + 6.0f * std::fabs(mag)
                        : t == TaOp::solarize ? 255.0f * std::fabs(mag)
                                              : mag;
        const std::vector<std::uint8_t> in = image(d, static_cast<std::uint32_t>(t) * 7 + d.w);
        std::vector<std::uint8_t> got(d.numel()), want(d.numel());
        ta_color_cpu(got.data(), in.data(), d, t, m);
        const BlendCoef k = blend_coef(1.0 + static_cast<double>(m));
        std::uint64_t sum = 0;
        for (std::size_t i = 0; i < static_cast<std::size_t>(d.h) * d.w; ++i)
          sum += d.c == 3 ? gray_u8(in[3 * i], in[3 * i + 1], in[3 * i + 2]) : 0;
        for (std::size_t i = 0; d.c != 3 && i < in.size(); ++i) sum += in[i];
        const float mean =
            static_cast<float>(sum) /
            static_cast<float>(static_cast<std::size_t>(d.h) * d.w * (d.c == 3 ? 1 : d.c));
        for (int y = 0; y < d.h; ++y)
          for (int x = 0; x < d.w; ++x)
            for (int ch = 0; ch < d.c; ++ch) {
              const std::size_t i = hwc_offset(d, y, x) + ch;
              const bool border = y == 0 || x == 0 || y == d.h - 1 || x == d.w - 1;
              switch (t) {
                case TaOp::brightness:
                  want[i] = blend(in[i], 0.0f, k);
                  break;
                case TaOp::contrast:
                  want[i] = blend(in[i], mean, k);
                  break;
                case TaOp::posterize:
                  want[i] = posterize(in[i], static_cast<int>(m));
                  break;
                case TaOp::solarize:
                  want[i] = solarize(in[i], m);
                  break;
                default:
                  want[i] =
                      d.h <= 2 || d.w <= 2
                          ? in[i]
                          : blend(in[i],
                                  border ? in[i] : sharpness_blur(in.data(), d.w, d.c, x, y, ch),
                                  k);
              }
            }
        CAPTURE(ta_op_name(t));
        CAPTURE(mag);
        CAPTURE(d.h);
        CAPTURE(d.w);
        REQUIRE(got == want);
      }
}

namespace {

// The chain run op by op with the per-pixel definitions: no deferred flip, normalize per element.
std::vector<float> chain_reference(const std::vector<AugmentOp>& ops, std::vector<std::uint8_t> img,
                                   Dims d, std::uint64_t seed, std::uint64_t sample) {
  Scratch s;
  std::size_t k = 0;
  for (; ops[k].kind != OpKind::normalize; ++k) {
    const OpDraw dr = draw_op(ops[k], d, seed, 3, sample, static_cast<std::uint32_t>(k));
    const Dims od = op_output_dims(ops[k], d);
    std::vector<std::uint8_t> next(od.numel());
    if (ops[k].kind == OpKind::hflip) {
      for (int y = 0; y < d.h; ++y)
        for (int x = 0; x < d.w; ++x)
          window_pixel(next.data() + hwc_offset(d, y, x), img.data(), d, d.w, 0, 0, x, y,
                       PadMode::constant, dr.flip, nullptr, 1);
    } else if (dr.apply || !(od == d)) {
      apply_u8_op_cpu(ops[k], dr, next.data(), od, img.data(), d, s);
    } else {
      next = img;
    }
    img = std::move(next);
    d = od;
  }
  std::vector<float> out(d.numel());
  const AugmentOp& n = ops[k];
  for (int ch = 0; ch < d.c; ++ch)
    for (int y = 0; y < d.h; ++y)
      for (int x = 0; x < d.w; ++x)
        out[chw_offset(d, ch, y, x)] =
            normalize_value(img[hwc_offset(d, y, x) + ch], n.mean[n.n_stats == 1 ? 0 : ch],
                            n.std[n.n_stats == 1 ? 0 : ch]);
  for (++k; k < ops.size(); ++k) {
    const OpDraw box = draw_op(ops[k], d, seed, 3, sample, static_cast<std::uint32_t>(k));
    for (int ch = 0; box.apply && ch < d.c; ++ch)
      for (int y = 0; y < box.h; ++y)
        for (int x = 0; x < box.w; ++x)
          out[chw_offset(d, ch, box.top + y, box.left + x)] =
              ops[k].random_value ? erase_noise(seed, 3, sample, static_cast<std::uint32_t>(k),
                                                box_element(box.h, box.w, ch, y, x))
                                  : ops[k].fill_for(ch);
  }
  return out;
}

}  // namespace

TEST_CASE("the fused chain (deferred flip, table normalize) equals the ops run one by one") {
  const AugmentOp flip1{.kind = OpKind::hflip, .p = 1.0f}, flip0{.kind = OpKind::hflip, .p = 0.0f};
  const AugmentOp flip{.kind = OpKind::hflip, .p = 0.5f};
  const AugmentOp rot{
      .kind = OpKind::rotate, .degrees = 30.0f, .fill = {3, 250, 128, 9}, .n_fill = 3};
  const AugmentOp ta{
      .kind = OpKind::trivial_augment_wide, .interp = Interp::nearest, .has_fill = false};
  const AugmentOp rrc{.kind = OpKind::random_resized_crop, .size_h = 19, .size_w = 23};
  AugmentOp norm1{.kind = OpKind::normalize, .mean = {0.5f}, .std = {0.25f}};
  AugmentOp norm3{.kind = OpKind::normalize,
                  .mean = {0.485f, 0.456f, 0.406f},
                  .std = {0.229f, 0.224f, 0.225f},
                  .n_stats = 3};
  const AugmentOp erase{.kind = OpKind::random_erasing,
                        .p = 0.8f,
                        .scale_lo = 0.02f,
                        .scale_hi = 0.33f,
                        .ratio_lo = 0.3f,
                        .ratio_hi = 3.3f,
                        .random_value = true};
  const std::vector<std::vector<AugmentOp>> chains = {
      {rot, flip, norm3},          {flip1, norm3},        {flip0, rot, norm3},
      {flip, ta, norm3},           {flip1, flip1, norm3}, {rrc, flip, ta, ta, norm3, erase},
      {flip, rot, flip, ta, norm3}};
  int runs = 0;
  for (const Dims d : {Dims{17, 13, 3}, Dims{31, 40, 3}, Dims{1, 1, 3}, Dims{9, 5, 1}})
    for (auto ops : chains) {
      if (d.c == 1) ops[ops.size() - (ops.back().kind == OpKind::random_erasing ? 2 : 1)] = norm1;
      if (d.c == 1 && ops.front().kind == OpKind::rotate) ops.front().n_fill = 1;
      if (d.c == 1 && ops.size() > 2 && ops[2].kind == OpKind::rotate) ops[2].n_fill = 1;
      for (std::uint64_t sample = 0; sample < 40; ++sample) {
        const std::vector<std::uint8_t> in = image(d, static_cast<std::uint32_t>(sample));
        const Plan plan = plan_output(ops, d);
        std::vector<float> got(plan.dims.numel());
        Scratch s;
        apply_ops_cpu(ops, in.data(), d, nullptr, got.data(), 9, 3, sample, s);
        const std::vector<float> want = chain_reference(ops, in, d, 9, sample);
        CAPTURE(sample);
        CAPTURE(d.c);
        REQUIRE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
        ++runs;
      }
    }
  CHECK(runs == 4 * 7 * 40);
}

TEST_CASE("random_erasing's box noise equals erase_noise element by element") {
  std::vector<float> got(1001);
  for (const std::uint64_t sample : {0ull, 7ull, 123456789ull, (1ull << 40) + 5})
    for (const std::uint32_t n : {1u, 2u, 7u, 8u, 9u, 15u, 16u, 17u, 1000u})
      for (std::uint32_t op = 0; op < 3; ++op) {
        const std::uint64_t seed = 0x9E3779B97F4A7C15ull * (op + 1) + n;
        std::fill(got.begin(), got.end(), -1.0f);
        erase_noise_cpu(got.data(), n, seed, 4 + op, sample, op);
        for (std::uint32_t e = 0; e < n; ++e) {
          const float want = erase_noise(seed, 4 + op, sample, op, e);
          CAPTURE(e);
          CAPTURE(n);
          REQUIRE(std::memcmp(&got[e], &want, 4) == 0);
        }
        CHECK(got[n] == -1.0f);  // nothing written past the box
      }
}

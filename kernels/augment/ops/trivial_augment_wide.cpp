// trivial_augment_wide: one of 14 ops (torchvision 0.14's TrivialAugmentWide) at a magnitude bin,
// with a random sign for the signed ops. Draws below(14) op, below(num_bins) bin (ops with bins),
// below(2) sign (signed ops only). Its CPU loop: the geometric ops through affine_cpu, the colour
// ops through ta_color_cpu (per-image statistics here; the per-pixel formulas and tables are
// trivial_augment_wide.hpp's, shared with CUDA).
#include "kernels/augment/ops/trivial_augment_wide.hpp"

#include <smmintrin.h>  // SSE4.1, part of the x86-64-v2 baseline

#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/augment/cpu_round.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

// Mean of the grayscale image (RGB) or of the image (gray), float32 as torch.mean: the integer sum
// is exact (below 2^24 for images up to ~65k pixels of 255; larger images round like torch's sum).
float contrast_mean(const std::uint8_t* in, Dims d) {
  const std::size_t n = static_cast<std::size_t>(d.h) * d.w;
  std::uint64_t sum = 0;
  if (d.c == 3)
    for (std::size_t i = 0; i < n; ++i) sum += gray_u8(in[3 * i], in[3 * i + 1], in[3 * i + 2]);
  else
    for (std::size_t i = 0; i < n * d.c; ++i) sum += in[i];
  return static_cast<float>(sum) / static_cast<float>(n * (d.c == 3 ? 1 : d.c));
}

void equalize_channel(std::uint8_t* out, const std::uint8_t* in, Dims d, int ch) {
  const std::size_t n = static_cast<std::size_t>(d.h) * d.w;
  std::int64_t hist[256] = {};
  for (std::size_t i = 0; i < n; ++i) ++hist[in[i * d.c + ch]];
  std::uint8_t lut[256];
  equalize_lut(hist, static_cast<long long>(n), lut);
  for (std::size_t i = 0; i < n; ++i) out[i * d.c + ch] = lut[in[i * d.c + ch]];
}

void map_through(std::uint8_t* out, const std::uint8_t* in, std::size_t n,
                 const std::uint8_t* lut) {
  for (std::size_t i = 0; i < n; ++i) out[i] = lut[in[i]];
}

inline __m128 load4(const std::uint8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v)));
}

// Four interior elements of a sharpness row (SSE4.1): the scalar loop's operations lane by lane.
// r, u, dn: the element in its row, the row above, the row below; c: the pixel stride.
void sharpness4(std::uint8_t* o, const std::uint8_t* r, const std::uint8_t* u,
                const std::uint8_t* dn, int c, BlendCoef k) {
  const __m128 k1 = _mm_set1_ps(1.0f / 13.0f), k5 = _mm_set1_ps(5.0f / 13.0f);
  const __m128 zero = _mm_setzero_ps(), top = _mm_set1_ps(255.0f);
  const std::uint8_t* taps[9] = {u - c, u, u + c, r - c, r, r + c, dn - c, dn, dn + c};
  __m128 acc = zero;
  for (int t = 0; t < 9; ++t) acc = _mm_add_ps(acc, _mm_mul_ps(load4(taps[t]), t == 4 ? k5 : k1));
  // round_to_u8 as a float (an integer in [0, 255], exact), then blend's clamp and truncation.
  const __m128 b = _mm_min_ps(_mm_max_ps(_mm_round_ps(acc, _MM_FROUND_CUR_DIRECTION), zero), top);
  __m128 v = _mm_add_ps(_mm_mul_ps(_mm_set1_ps(k.r), load4(r)), _mm_mul_ps(_mm_set1_ps(k.q), b));
  v = _mm_min_ps(_mm_max_ps(v, zero), top);
  const __m128i i = _mm_cvttps_epi32(v);
  const std::int32_t px = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(i, i), i));
  std::memcpy(o, &px, 4);
}

// Sharpness a row at a time: the border pixels blend with themselves; an interior element's blur
// sums its 3 x 3 taps in sharpness_blur's order (rows top to bottom, each left to right), over
// contiguous elements so the loop vectorises.
void sharpness_cpu(std::uint8_t* out, const std::uint8_t* in, Dims d, BlendCoef k) {
  const int c = d.c;
  const std::size_t row = static_cast<std::size_t>(d.w) * c;
  const float k1 = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  for (int y = 0; y < d.h; ++y) {
    const std::uint8_t* r = in + y * row;
    std::uint8_t* o = out + y * row;
    if (y == 0 || y == d.h - 1) {
      for (std::size_t e = 0; e < row; ++e) o[e] = blend(r[e], r[e], k);
      continue;
    }
    for (int e = 0; e < c; ++e) {
      o[e] = blend(r[e], r[e], k);
      o[row - c + e] = blend(r[row - c + e], r[row - c + e], k);
    }
    const std::uint8_t *u = r - row, *dn = r + row;
    std::size_t e = c;
    for (; e + 4 <= row - c; e += 4) sharpness4(o + e, r + e, u + e, dn + e, c, k);
    for (; e < row - c; ++e) {
      float acc = 0.0f;
      acc += static_cast<float>(u[e - c]) * k1;
      acc += static_cast<float>(u[e]) * k1;
      acc += static_cast<float>(u[e + c]) * k1;
      acc += static_cast<float>(r[e - c]) * k1;
      acc += static_cast<float>(r[e]) * k5;
      acc += static_cast<float>(r[e + c]) * k1;
      acc += static_cast<float>(dn[e - c]) * k1;
      acc += static_cast<float>(dn[e]) * k1;
      acc += static_cast<float>(dn[e + c]) * k1;
      o[e] = blend(r[e], round_to_u8(acc), k);
    }
  }
}

void parse(const OpArgs& a, AugmentOp& op) {
  op.num_bins = static_cast<int>(a.number("num_magnitude_bins"));
  op.interp = a.text("interpolation") == "nearest" ? Interp::nearest : Interp::bilinear;
  op.has_fill = a.given("fill");
  if (op.has_fill) a.per_channel("fill", op.fill, op.n_fill);
}

Dims output(const AugmentOp&, Dims in) { return in; }

void draw(const AugmentOp& op, Dims in, rng::Philox& r, OpDraw& d) {
  d.ta = static_cast<TaOp>(r.below(kNumTaOps));
  const bool has_bins =
      !(d.ta == TaOp::identity || d.ta == TaOp::auto_contrast || d.ta == TaOp::equalize);
  float mag =
      has_bins ? ta_magnitude(d.ta, static_cast<int>(r.below(op.num_bins)), op.num_bins) : 0.0f;
  if (ta_signed(d.ta) && r.below(2)) mag = -mag;
  d.magnitude = mag;
  d.apply = d.ta != TaOp::identity;
  ta_geometry(d, in);
}

void apply(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims, const std::uint8_t* in,
           Dims id, Scratch& s) {
  switch (d.ta) {
    case TaOp::identity:
      std::memcpy(out, in, id.numel());
      return;
    case TaOp::shear_x:
    case TaOp::shear_y:
    case TaOp::translate_x:
    case TaOp::translate_y:
    case TaOp::rotate:
      affine_cpu(out, in, id, d.matrix, op.interp, op.has_fill, op.fill, op.n_fill, s.affine);
      return;
    default:
      ta_color_cpu(out, in, id, d.ta, d.magnitude);
      return;
  }
}

}  // namespace

void ta_color_cpu(std::uint8_t* out, const std::uint8_t* in, Dims d, TaOp t, float magnitude) {
  const std::size_t n = static_cast<std::size_t>(d.h) * d.w, total = n * d.c;
  const BlendCoef k = blend_coef(1.0 + static_cast<double>(magnitude));
  std::uint8_t lut[256];  // ops whose output is a function of the input value alone
  switch (t) {
    case TaOp::brightness:
      for (int v = 0; v < 256; ++v) lut[v] = blend(static_cast<float>(v), 0.0f, k);
      return map_through(out, in, total, lut);
    case TaOp::color:
      if (d.c == 1) break;  // torchvision leaves gray images unchanged
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint8_t* p = in + 3 * i;
        const float g = gray_u8(p[0], p[1], p[2]);
        for (int ch = 0; ch < 3; ++ch)  // blend(p[ch], g, k), its clamp without branches
          out[3 * i + ch] = clamp_to_u8_cpu(k.r * static_cast<float>(p[ch]) + k.q * g);
      }
      return;
    case TaOp::contrast: {
      const float mean = contrast_mean(in, d);
      for (int v = 0; v < 256; ++v) lut[v] = blend(static_cast<float>(v), mean, k);
      return map_through(out, in, total, lut);
    }
    case TaOp::sharpness:
      if (d.h <= 2 || d.w <= 2) break;
      return sharpness_cpu(out, in, d, k);
    case TaOp::posterize: {
      const int bits = static_cast<int>(magnitude);
      for (int v = 0; v < 256; ++v) lut[v] = posterize(static_cast<std::uint8_t>(v), bits);
      return map_through(out, in, total, lut);
    }
    case TaOp::solarize:
      for (int v = 0; v < 256; ++v) lut[v] = solarize(static_cast<std::uint8_t>(v), magnitude);
      return map_through(out, in, total, lut);
    case TaOp::auto_contrast:
      for (int ch = 0; ch < d.c; ++ch) {
        std::uint8_t lo = 255, hi = 0;
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint8_t v = in[i * d.c + ch];
          lo = v < lo ? v : lo;
          hi = v > hi ? v : hi;
        }
        std::uint8_t lut[256];
        autocontrast_lut(lo, hi, lut);
        for (std::size_t i = 0; i < n; ++i) out[i * d.c + ch] = lut[in[i * d.c + ch]];
      }
      return;
    case TaOp::equalize:
      for (int ch = 0; ch < d.c; ++ch) equalize_channel(out, in, d, ch);
      return;
    default:
      throw std::invalid_argument(std::string("ta_color_cpu: ") + ta_op_name(t) +
                                  " is not a colour op");
  }
  std::memcpy(out, in, total);
}

const OpDef& op_def_trivial_augment_wide() {
  static const OpDef def{
      .kind = OpKind::trivial_augment_wide,
      .name = "trivial_augment_wide",
      .doc = "one of 14 ops at a random magnitude (TrivialAugmentWide)",
      .keys = {{.spec = {.name = "num_magnitude_bins",
                         .type = ParamType::integer,
                         .doc = "magnitude bins",
                         .default_value = "31",
                         .min = 2,
                         .max = 1024}},
               {.spec = {.name = "interpolation",
                         .type = ParamType::string,
                         .doc = "sampling of the geometric ops",
                         .default_value = "\"nearest\"",
                         .choices = {"bilinear", "nearest"}}},
               {.spec = {.name = "fill",
                         .type = ParamType::number_list,
                         .doc = "value outside the image, one or per channel (default: none, plain "
                                "zero padding)",
                         .optional = true,
                         .min = 0,
                         .max = 255},
                .shape = KeyShape::per_channel}},
      .parse = parse,
      .output = output,
      .draw = draw,
      .apply_cpu = apply,
      .kernel = KernelFamily::ta};
  return def;
}

}  // namespace ft::aug

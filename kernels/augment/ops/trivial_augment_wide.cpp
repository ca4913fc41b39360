// trivial_augment_wide: one of 14 ops (torchvision 0.14's TrivialAugmentWide) at a magnitude bin,
// with a random sign for the signed ops. Draws below(14) op, below(num_bins) bin (ops with bins),
// below(2) sign (signed ops only).
#include "kernels/augment/ops/trivial_augment_wide.hpp"

#include <cstring>

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

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
           Dims id, Scratch&) {
  switch (d.ta) {
    case TaOp::identity:
      std::memcpy(out, in, id.numel());
      return;
    case TaOp::shear_x:
    case TaOp::shear_y:
    case TaOp::translate_x:
    case TaOp::translate_y:
    case TaOp::rotate:
      affine_cpu(out, in, id, d.matrix, op.interp, op.has_fill, op.fill, op.n_fill);
      return;
    default:
      ta_color_cpu(out, in, id, d.ta, d.magnitude);
      return;
  }
}

}  // namespace

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

// random_erasing: on the normalized f32 CHW image, with probability p erase a box of random area
// and aspect ratio with a value or N(0, 1) noise. Draws u(p), up to 10 x [u(area), u(log ratio)],
// below(top), below(left); the noise has its own Philox blocks (random_erasing.hpp erase_noise).
#include "kernels/augment/ops/random_erasing.hpp"

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

void parse(const OpArgs& a, AugmentOp& op) {
  op.p = static_cast<float>(a.number("p"));
  a.range("scale", op.scale_lo, op.scale_hi);
  a.range("ratio", op.ratio_lo, op.ratio_hi);
  op.random_value = a.text("value") == "random";
  if (!op.random_value) a.per_channel("value", op.fill, op.n_fill);
}

Dims output(const AugmentOp&, Dims in) { return in; }

void draw(const AugmentOp& op, Dims in, rng::Philox& r, OpDraw& d) {
  draw_area_box(op, in, r, d, true);
}

}  // namespace

const OpDef& op_def_random_erasing() {
  static const OpDef def{
      .kind = OpKind::random_erasing,
      .name = "random_erasing",
      .doc = "after normalize: erase a box of random area and aspect ratio",
      .keys = {{.spec = {.name = "p",
                         .type = ParamType::number,
                         .doc = "probability of erasing",
                         .default_value = "0.5",
                         .min = 0,
                         .max = 1}},
               {.spec = {.name = "scale",
                         .type = ParamType::number_list,
                         .doc = "[low, high] fraction of the image's area",
                         .default_value = "[0.02, 0.33]",
                         .min = 0.0,
                         .max = 1.0},
                .shape = KeyShape::range},
               {.spec = {.name = "ratio",
                         .type = ParamType::number_list,
                         .doc = "[low, high] aspect ratio (h / w), drawn log-uniform",
                         .default_value = "[0.3, 3.3]",
                         .min = 1e-3,
                         .max = 1e3},
                .shape = KeyShape::range},
               {.spec = {.name = "value",
                         .type = ParamType::number_list,
                         .doc = "the erased value, one or per channel, or \"random\" (N(0, 1) "
                                "noise per element)",
                         .default_value = "0",
                         .min = -1e6,
                         .max = 1e6,
                         .choices = {"random"}},
                .shape = KeyShape::per_channel}},
      .parse = parse,
      .output = output,
      .draw = draw,
      .apply_cpu = nullptr,
      .kernel = KernelFamily::erase};
  return def;
}

}  // namespace ft::aug

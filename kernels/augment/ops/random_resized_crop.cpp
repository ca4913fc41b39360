// random_resized_crop: a crop of random area and aspect ratio (10 tries, then a central crop),
// resized to [h, w]. Draws up to 10 x [u(area), u(log ratio)], then below(top), below(left).
#include "kernels/augment/ops/random_resized_crop.hpp"

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

void parse(const OpArgs& a, AugmentOp& op) {
  a.size("size", op.size_h, op.size_w);
  a.range("scale", op.scale_lo, op.scale_hi);
  a.range("ratio", op.ratio_lo, op.ratio_hi);
  op.antialias = a.boolean("antialias");
}

void draw(const AugmentOp& op, Dims in, rng::Philox& r, OpDraw& d) {
  draw_area_box(op, in, r, d, false);
}

}  // namespace

const OpDef& op_def_random_resized_crop() {
  static const OpDef def{
      .kind = OpKind::random_resized_crop,
      .name = "random_resized_crop",
      .doc = "a crop of random area and aspect ratio, resized",
      .keys = {size_key("output [h, w] or N (square)"),
               {.spec = {.name = "scale",
                         .type = ParamType::number_list,
                         .doc = "[low, high] fraction of the image's area",
                         .default_value = "[0.08, 1.0]",
                         .min = 1e-6,
                         .max = 1.0},
                .shape = KeyShape::range},
               {.spec = {.name = "ratio",
                         .type = ParamType::number_list,
                         .doc = "[low, high] aspect ratio (w / h), drawn log-uniform",
                         .default_value = "[0.75, 1.3333333333333333]",
                         .min = 1e-3,
                         .max = 1e3},
                .shape = KeyShape::range},
               antialias_key()},
      .parse = parse,
      .output = sized_output,
      .draw = draw,
      .apply_cpu = resize_window_cpu,
      .kernel = KernelFamily::resize};
  return def;
}

}  // namespace ft::aug

// resize: bilinear (antialiased when shrinking) to [h, w], or the smaller edge to N (torchvision
// Resize). Draws nothing: the window is the whole image.
#include "kernels/augment/ops/resize.hpp"

#include "kernels/augment/geometry.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

void parse(const OpArgs& a, AugmentOp& op) {
  a.size("size", op.size_h, op.size_w);
  if (a["size"].scalar) op.size_w = 0;  // torchvision: an int is the smaller edge
  op.antialias = a.boolean("antialias");
}

Dims output(const AugmentOp& op, Dims in) { return resize_output(in, op.size_h, op.size_w); }

void draw(const AugmentOp&, Dims, rng::Philox&, OpDraw&) {}

void apply(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims od, const std::uint8_t* in,
           Dims id, Scratch& s) {
  resize_cpu(out, od, in, id, d.top, d.left, d.h, d.w, op.antialias, s);
}

}  // namespace

const OpDef& op_def_resize() {
  static const OpDef def{
      .kind = OpKind::resize,
      .name = "resize",
      .doc = "bilinear resize",
      .keys = {{.spec = {.name = "size",
                         .type = ParamType::integer_list,
                         .doc =
                             "N: the smaller edge becomes N, the aspect ratio kept; [h, w]: h x w",
                         .min = 1,
                         .max = kMaxSide},
                .shape = KeyShape::size},
               {.spec = {.name = "antialias",
                         .type = ParamType::boolean,
                         .doc = "antialias when shrinking",
                         .default_value = "true"}}},
      .parse = parse,
      .output = output,
      .draw = draw,
      .apply_cpu = apply,
      .kernel = KernelFamily::resize};
  return def;
}

}  // namespace ft::aug

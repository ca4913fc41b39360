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

}  // namespace

void resize_window_cpu(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims od,
                       const std::uint8_t* in, Dims id, Scratch& s) {
  resize_cpu(out, od, in, id, d.top, d.left, d.h, d.w, op.antialias, s);
}

const OpDef& op_def_resize() {
  static const OpDef def{
      .kind = OpKind::resize,
      .name = "resize",
      .doc = "bilinear resize",
      .keys = {size_key("N: the smaller edge becomes N, the aspect ratio kept; [h, w]: h x w"),
               antialias_key()},
      .parse = parse,
      .output = output,
      .draw = draw,
      .apply_cpu = resize_window_cpu,
      .kernel = KernelFamily::resize};
  return def;
}

}  // namespace ft::aug

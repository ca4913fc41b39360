// center_crop: torchvision center_crop, padding with 0 where the crop is larger than the image.
#include "kernels/augment/ops/center_crop.hpp"

#include "kernels/augment/geometry.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

void parse(const OpArgs& a, AugmentOp& op) { a.size("size", op.size_h, op.size_w); }

void draw(const AugmentOp& op, Dims in, rng::Philox&, OpDraw& d) {
  d.top = center_crop_start(in.h, op.size_h);
  d.left = center_crop_start(in.w, op.size_w);
  d.h = op.size_h;
  d.w = op.size_w;
}

void apply(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims od, const std::uint8_t* in,
           Dims id, Scratch&) {
  crop_pad_cpu(out, od, in, id, d.top, d.left, PadMode::constant, nullptr, op.n_fill, false);
}

}  // namespace

const OpDef& op_def_center_crop() {
  static const OpDef def{
      .kind = OpKind::center_crop,
      .name = "center_crop",
      .doc = "a central crop",
      .keys = {size_key("[h, w] or N (square); pads with 0 when larger than the image")},
      .parse = parse,
      .output = sized_output,
      .draw = draw,
      .apply_cpu = apply,
      .kernel = KernelFamily::crop};
  return def;
}

}  // namespace ft::aug

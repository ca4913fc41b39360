// rotate: an angle uniform in [-degrees, degrees], torchvision's affine warp. Draws u(angle).
#include "kernels/augment/ops/rotate.hpp"

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

void parse(const OpArgs& a, AugmentOp& op) {
  op.degrees = static_cast<float>(a.number("degrees"));
  a.per_channel("fill", op.fill, op.n_fill);
  op.interp = a.text("interpolation") == "nearest" ? Interp::nearest : Interp::bilinear;
}

Dims output(const AugmentOp&, Dims in) { return in; }

void draw(const AugmentOp& op, Dims, rng::Philox& r, OpDraw& d) {
  const float angle = r.uniform(-op.degrees, op.degrees);
  inverse_affine_matrix(d.matrix, 0.0, 0.0, -static_cast<double>(angle), 0.0, 0.0, 1.0, 0.0, 0.0);
  d.magnitude = angle;
}

void apply(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims, const std::uint8_t* in,
           Dims id, Scratch& s) {
  affine_cpu(out, in, id, d.matrix, op.interp, true, op.fill, op.n_fill, s.affine);
}

}  // namespace

const OpDef& op_def_rotate() {
  static const OpDef def{.kind = OpKind::rotate,
                         .name = "rotate",
                         .doc = "rotate by an angle uniform in [-degrees, degrees]",
                         .keys = {{.spec = {.name = "degrees",
                                            .type = ParamType::number,
                                            .doc = "the angle range",
                                            .min = 0,
                                            .max = 360}},
                                  {.spec = {.name = "fill",
                                            .type = ParamType::number_list,
                                            .doc = "value outside the image, one or per channel",
                                            .default_value = "0",
                                            .min = 0,
                                            .max = 255},
                                   .shape = KeyShape::per_channel},
                                  {.spec = {.name = "interpolation",
                                            .type = ParamType::string,
                                            .doc = "sampling",
                                            .default_value = "\"bilinear\"",
                                            .choices = {"bilinear", "nearest"}}}},
                         .parse = parse,
                         .output = output,
                         .draw = draw,
                         .apply_cpu = apply,
                         .kernel = KernelFamily::rotate};
  return def;
}

}  // namespace ft::aug

// hflip: mirror left-right with probability p. Draws u(p).
#include "kernels/augment/ops/hflip.hpp"

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

void parse(const OpArgs& a, AugmentOp& op) { op.p = static_cast<float>(a.number("p")); }

Dims output(const AugmentOp&, Dims in) { return in; }

void draw(const AugmentOp& op, Dims, rng::Philox& r, OpDraw& d) {
  d.flip = r.bernoulli(op.p);
  d.apply = d.flip;
}

void apply(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims od, const std::uint8_t* in,
           Dims id, Scratch&) {
  crop_pad_cpu(out, od, in, id, 0, 0, PadMode::constant, op.fill, op.n_fill, d.flip);
}

}  // namespace

const OpDef& op_def_hflip() {
  static const OpDef def{.kind = OpKind::hflip,
                         .name = "hflip",
                         .doc = "mirror left-right",
                         .keys = {{.spec = {.name = "p",
                                            .type = ParamType::number,
                                            .doc = "probability of the flip",
                                            .default_value = "0.5",
                                            .min = 0,
                                            .max = 1}}},
                         .parse = parse,
                         .output = output,
                         .draw = draw,
                         .apply_cpu = apply,
                         .kernel = KernelFamily::crop};
  return def;
}

}  // namespace ft::aug

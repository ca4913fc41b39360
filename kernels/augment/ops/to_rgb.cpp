// to_rgb: a gray image's channel repeated three times; RGB unchanged. Draws nothing.
#include "kernels/augment/ops/to_rgb.hpp"

#include <cstring>

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

void parse(const OpArgs&, AugmentOp&) {}

Dims output(const AugmentOp&, Dims in) { return {in.h, in.w, 3}; }

void draw(const AugmentOp&, Dims, rng::Philox&, OpDraw&) {}

void apply(const AugmentOp&, const OpDraw&, std::uint8_t* out, Dims, const std::uint8_t* in,
           Dims id, Scratch&) {
  to_rgb_cpu(out, in, id);
}

}  // namespace

void to_rgb_cpu(std::uint8_t* out, const std::uint8_t* in, Dims d) {
  const std::size_t n = static_cast<std::size_t>(d.h) * d.w;
  if (d.c == 3) {
    std::memcpy(out, in, n * 3);
    return;
  }
  for (std::size_t i = 0; i < n; ++i) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = in[i];
}

const OpDef& op_def_to_rgb() {
  static const OpDef def{.kind = OpKind::to_rgb,
                         .name = "to_rgb",
                         .doc = "repeat a gray channel three times (RGB unchanged)",
                         .keys = {},
                         .parse = parse,
                         .output = output,
                         .draw = draw,
                         .apply_cpu = apply,
                         .kernel = KernelFamily::to_rgb};
  return def;
}

}  // namespace ft::aug

// normalize: u8 HWC -> f32 (or bf16) CHW, (x / 255 - mean) / std per channel. Draws nothing; the
// chain runs it (and the random_erasing ops after it) in its float part.
#include "kernels/augment/ops/normalize.hpp"

#include <algorithm>
#include <string>

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

void parse(const OpArgs& a, AugmentOp& op) {
  const auto& m = a["mean"].numbers;
  const auto& s = a["std"].numbers;
  if (m.size() != s.size() && m.size() != 1 && s.size() != 1)
    throw OpKeyError("std", "has " + std::to_string(s.size()) + " values but mean has " +
                                std::to_string(m.size()));
  op.n_stats = static_cast<int>(std::max(m.size(), s.size()));
  for (int k = 0; k < op.n_stats; ++k) {
    op.mean[k] = static_cast<float>(m[m.size() == 1 ? 0 : k]);
    op.std[k] = static_cast<float>(s[s.size() == 1 ? 0 : k]);
  }
  op.bf16 = a.text("dtype") == "bf16";
}

Dims output(const AugmentOp&, Dims in) { return in; }

void draw(const AugmentOp&, Dims, rng::Philox&, OpDraw&) {}

}  // namespace

const OpDef& op_def_normalize() {
  static const OpDef def{
      .kind = OpKind::normalize,
      .name = "normalize",
      .doc = "u8 HWC -> f32 CHW, (x / 255 - mean) / std",
      .keys = {{.spec = {.name = "mean",
                         .type = ParamType::number_list,
                         .doc = "on the 0..1 scale, one or per channel",
                         .min = -1e6,
                         .max = 1e6},
                .shape = KeyShape::per_channel},
               {.spec = {.name = "std",
                         .type = ParamType::number_list,
                         .doc = "on the 0..1 scale, one or per channel",
                         .min = 1e-12,
                         .max = 1e6},
                .shape = KeyShape::per_channel},
               {.spec = {.name = "dtype",
                         .type = ParamType::string,
                         .doc = "bf16 halves the batch's bytes (rounded to nearest even)",
                         .default_value = "\"f32\"",
                         .choices = {"f32", "bf16"}}}},
      .parse = parse,
      .output = output,
      .draw = draw,
      .apply_cpu = nullptr,
      .kernel = KernelFamily::normalize};
  return def;
}

}  // namespace ft::aug

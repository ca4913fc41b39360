// random_crop: pad (padding, padding_mode, fill; pad_if_needed), then a uniform crop. Draws
// below(top range), below(left range), none when the crop is the whole padded image.
#include "kernels/augment/ops/random_crop.hpp"

#include <string>

#include "kernels/augment/geometry.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

namespace {

void parse(const OpArgs& a, AugmentOp& op) {
  a.size("size", op.size_h, op.size_w);
  std::vector<double> v = a["padding"].numbers;
  if (v.size() == 1) v = {v[0], v[0], v[0], v[0]};
  if (v.size() == 2) v = {v[0], v[1], v[0], v[1]};
  op.pad_l = int(v[0]), op.pad_t = int(v[1]), op.pad_r = int(v[2]), op.pad_b = int(v[3]);
  a.per_channel("fill", op.fill, op.n_fill);
  const std::string& m = a.text("padding_mode");
  op.pad_mode = m == "edge"        ? PadMode::edge
                : m == "reflect"   ? PadMode::reflect
                : m == "symmetric" ? PadMode::symmetric
                                   : PadMode::constant;
  op.pad_if_needed = a.boolean("pad_if_needed");
  if (op.pad_if_needed && (op.pad_mode == PadMode::reflect || op.pad_mode == PadMode::symmetric))
    throw OpKeyError("pad_if_needed", "is supported with padding_mode constant or edge only");
}

Dims output(const AugmentOp& op, Dims in) {
  const PaddedSize p = random_crop_padded(op, in);
  if (p.h < op.size_h || p.w < op.size_w)
    throw std::invalid_argument("random_crop: crop " + std::to_string(op.size_h) + "x" +
                                std::to_string(op.size_w) + " is larger than the padded image " +
                                std::to_string(p.h) + "x" + std::to_string(p.w) +
                                " (add padding or pad_if_needed = true)");
  return sized_output(op, in);
}

void draw(const AugmentOp& op, Dims in, rng::Philox& r, OpDraw& d) {
  const PaddedSize p = random_crop_padded(op, in);
  int i = 0, j = 0;
  if (!(p.h == op.size_h && p.w == op.size_w)) {
    i = static_cast<int>(r.below(static_cast<std::uint32_t>(p.h - op.size_h + 1)));
    j = static_cast<int>(r.below(static_cast<std::uint32_t>(p.w - op.size_w + 1)));
  }
  d.top = i - op.pad_t - p.extra_t;
  d.left = j - op.pad_l - p.extra_l;
  d.h = op.size_h;
  d.w = op.size_w;
}

void apply(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims od, const std::uint8_t* in,
           Dims id, Scratch&) {
  crop_pad_cpu(out, od, in, id, d.top, d.left, op.pad_mode, op.fill, op.n_fill, false);
}

}  // namespace

const OpDef& op_def_random_crop() {
  static const OpDef def{
      .kind = OpKind::random_crop,
      .name = "random_crop",
      .doc = "pad, then a crop at a uniform position",
      .keys = {size_key("[h, w] or N (square)"),
               {.spec = {.name = "padding",
                         .type = ParamType::integer_list,
                         .doc = "N, [left/right, top/bottom] or [left, top, right, bottom]",
                         .default_value = "0",
                         .min = 0,
                         .max = kMaxPadding},
                .shape = KeyShape::padding},
               {.spec = {.name = "fill",
                         .type = ParamType::number_list,
                         .doc = "constant padding value, one or per channel",
                         .default_value = "0",
                         .min = 0,
                         .max = 255},
                .shape = KeyShape::per_channel},
               {.spec = {.name = "padding_mode",
                         .type = ParamType::string,
                         .doc = "how padding reads the image",
                         .default_value = "\"constant\"",
                         .choices = {"constant", "edge", "reflect", "symmetric"}}},
               {.spec = {.name = "pad_if_needed",
                         .type = ParamType::boolean,
                         .doc = "pad both sides when the image is smaller than the crop (constant "
                                "or edge mode)",
                         .default_value = "false"}}},
      .parse = parse,
      .output = output,
      .draw = draw,
      .apply_cpu = apply,
      .kernel = KernelFamily::crop};
  return def;
}

}  // namespace ft::aug

// The op registry: every FT_AUGMENT_OPS entry's OpDef, indexed by OpKind, the keys several ops
// share, and OpArgs' readers.
#include <algorithm>
#include <array>

#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug {

std::span<const OpDef> op_defs() {
  static const std::array<OpDef, kNumOps> defs = [] {
    std::array<OpDef, kNumOps> a{
#define FT_OP_DEF_ENTRY(name) op_def_##name(),
        FT_AUGMENT_OPS(FT_OP_DEF_ENTRY)
#undef FT_OP_DEF_ENTRY
    };
    for (int k = 0; k < kNumOps; ++k)
      if (static_cast<int>(a[k].kind) != k)
        throw std::logic_error(std::string("op registry: ") + a[k].name + " is out of place");
    return a;
  }();
  return defs;
}

const OpDef& op_def(OpKind k) { return op_defs()[static_cast<std::size_t>(k)]; }

OpKey size_key(std::string doc) {
  return {.spec = {.name = "size",
                   .type = ParamType::integer_list,
                   .doc = std::move(doc),
                   .min = 1,
                   .max = kMaxSide},
          .shape = KeyShape::size};
}

OpKey antialias_key() {
  return {.spec = {.name = "antialias",
                   .type = ParamType::boolean,
                   .doc = "antialias when shrinking",
                   .default_value = "true"}};
}

Dims sized_output(const AugmentOp& op, Dims in) { return {op.size_h, op.size_w, in.c}; }

const OpValue& OpArgs::operator[](std::string_view key) const {
  for (const auto& [k, v] : values_)
    if (k == key) return v;
  throw std::logic_error("op parse reads key '" + std::string(key) + "', not in its schema");
}

void OpArgs::size(std::string_view key, int& h, int& w) const {
  const OpValue& v = (*this)[key];
  h = static_cast<int>(v.numbers.at(0));
  w = static_cast<int>(v.numbers.at(v.numbers.size() == 1 ? 0 : 1));
}

void OpArgs::per_channel(std::string_view key, float* out, int& n) const {
  const OpValue& v = (*this)[key];
  n = static_cast<int>(v.numbers.size());
  for (int k = 0; k < n; ++k) out[k] = static_cast<float>(v.numbers[static_cast<std::size_t>(k)]);
}

void OpArgs::range(std::string_view key, float& lo, float& hi) const {
  const OpValue& v = (*this)[key];
  lo = static_cast<float>(v.numbers.at(0));
  hi = static_cast<float>(v.numbers.at(1));
}

}  // namespace ft::aug

// The op registry (kernels/augment/ops): one entry per FT_AUGMENT_OPS name, in OpKind order, each
// with documented keys and the hooks the parser, the CPU chain and the CUDA plan dispatch through.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"

using namespace ft;
using namespace ft::aug;

TEST_CASE("the registry holds every op of the list, in OpKind order") {
  const char* const listed[] = {
#define FT_NAME(name) #name,
      FT_AUGMENT_OPS(FT_NAME)
#undef FT_NAME
  };
  static_assert(sizeof(listed) / sizeof(listed[0]) == kNumOps);
  REQUIRE(op_defs().size() == static_cast<std::size_t>(kNumOps));
  for (int k = 0; k < kNumOps; ++k) {
    const OpDef& d = op_defs()[static_cast<std::size_t>(k)];
    CAPTURE(d.name);
    CHECK(std::string(d.name) == listed[k]);
    CHECK(static_cast<int>(d.kind) == k);
    CHECK(&op_def(d.kind) == &d);
    CHECK(std::string(op_name(d.kind)) == d.name);
  }
}

TEST_CASE("every op documents itself and every key, and has the hooks its path needs") {
  for (const OpDef& d : op_defs()) {
    CAPTURE(d.name);
    CHECK(std::string(d.doc).size() > 3);
    REQUIRE((d.parse != nullptr));
    REQUIRE((d.output != nullptr));
    REQUIRE((d.draw != nullptr));
    // The f32 part of the chain (normalize, erasing) has no u8 CPU loop; every other op has one.
    const bool f32_part = d.kernel == KernelFamily::normalize || d.kernel == KernelFamily::erase;
    CHECK((d.apply_cpu == nullptr) == f32_part);
    std::set<std::string> names;
    for (const OpKey& k : d.keys) {
      CAPTURE(k.spec.name);
      CHECK(names.insert(k.spec.name).second);  // no key twice
      CHECK(!k.spec.doc.empty());
      CHECK(k.spec.name != "op");  // the op's name key
      if (k.spec.type == ParamType::number || k.spec.type == ParamType::integer ||
          k.spec.type == ParamType::number_list || k.spec.type == ParamType::integer_list) {
        CHECK(k.spec.min.has_value());  // numbers that reach the kernels are bounded
        CHECK(k.spec.max.has_value());
      }
      if (k.spec.type == ParamType::string && k.shape == KeyShape::one)
        CHECK(!k.spec.choices.empty());
    }
  }
}

TEST_CASE("the CPU chain and the CUDA plan dispatch every u8 op through the registry") {
  Scratch s;
  const Dims in{6, 5, 3};
  std::vector<std::uint8_t> img(in.numel(), 7), out(16 * 16 * 3);
  for (const OpDef& d : op_defs()) {
    if (!d.apply_cpu) continue;
    CAPTURE(d.name);
    AugmentOp op;
    op.kind = d.kind;
    op.size_h = op.size_w = 4;
    const Dims od = op_output_dims(op, in);
    const OpDraw draw = draw_op(op, in, 1, 0, 0, 0);
    apply_u8_op_cpu(op, draw, out.data(), od, img.data(), in, s);
  }
  AugmentOp norm;
  norm.kind = OpKind::normalize;
  CHECK_THROWS_AS(apply_u8_op_cpu(norm, OpDraw{}, out.data(), in, img.data(), in, s),
                  std::invalid_argument);
}

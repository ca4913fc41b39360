// The augment stage: op parsing and its errors (file:line:col, op index, key), the CPU run over a
// batch (equal to the kernel chain, byte-identical for 1 and 2 threads, new draws per epoch), and
// device = "cuda" failing clearly where CUDA cannot run.
#include "stages/augment/augment_stage.hpp"

#include <doctest/doctest.h>
#include <tbb/task_arena.h>

#include <algorithm>

#include "kernels/augment/cuda.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"
#include "kernels/augment/pixel.hpp"
#include "pipeline/error.hpp"

using namespace ft;

namespace {

const StageKind& kind() {
  static const StageKind k = augment_kind();
  return k;
}

Params params_of(const std::string& toml_text) {
  toml::table t = toml::parse(std::string_view(toml_text), std::string_view("aug.toml"));
  return Params(std::move(t), "aug", "aug.toml", &kind().params);
}

std::unique_ptr<Stage> make(const std::string& toml_text) {
  return kind().make(params_of(toml_text));
}

std::string error_of(const std::string& toml_text) {
  try {
    make(toml_text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

// A batch of mixed gray / RGB images of different sizes.
Batch test_batch(int epoch) {
  Batch b;
  b.seed = 42;
  b.epoch = epoch;
  std::vector<ImageDims> dims;
  for (int i = 0; i < 12; ++i) {
    dims.push_back(ImageDims{20 + i, 30 - i, i % 3 == 0 ? 1 : 3});
    b.id.push_back("img" + std::to_string(i));
    b.path.push_back("/data/img" + std::to_string(i) + ".jpg");
    b.index.push_back(100 + 7 * i);
    b.label.push_back(i % 10);
  }
  b.image.layout(DType::u8, dims);
  for (std::size_t k = 0; k < b.image.u8.size(); ++k)
    b.image.u8[k] = static_cast<std::uint8_t>((k * 131 + k / 5) % 256);
  return b;
}

// output = "image": these tests read the per-sample list (pack_input_test.cpp covers "host").
const char* kChain = R"(
output = "image"
ops = [ { op = "to_rgb" }, { op = "random_resized_crop", size = 24 }, { op = "hflip" },
        { op = "rotate", degrees = 10 }, { op = "trivial_augment_wide" },
        { op = "random_crop", size = 24, padding = 2 },
        { op = "normalize", mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225] },
        { op = "random_erasing", value = "random", p = 0.7 } ]
)";

Batch run_with_threads(const std::string& cfg, int threads, int epoch) {
  auto stage = make(cfg);
  Batch b = test_batch(epoch);
  tbb::task_arena arena(threads);
  arena.execute([&] {
    stage->run(b);
    // A second batch through the same stage reuses pooled buffers and must not change results.
    Batch again = test_batch(epoch);
    stage->run(again);
    CHECK(again.image.f32 == b.image.f32);
    CHECK(again.image.u8 == b.image.u8);
  });
  return b;
}

}  // namespace

TEST_CASE("ops parse into kernel descriptions with torchvision defaults") {
  auto* s = dynamic_cast<AugmentStage*>(make(kChain).get());
  REQUIRE(s);
  auto st = make(kChain);
  const auto& ops = dynamic_cast<AugmentStage&>(*st).ops();
  REQUIRE(ops.size() == 8u);
  CHECK(ops[1].kind == aug::OpKind::random_resized_crop);
  CHECK(ops[1].scale_lo == doctest::Approx(0.08));
  CHECK(ops[1].size_w == 24);
  CHECK(ops[2].p == doctest::Approx(0.5));
  CHECK(ops[4].interp == aug::Interp::nearest);
  CHECK_FALSE(ops[4].has_fill);
  CHECK(ops[5].pad_l == 2);
  CHECK(ops[5].pad_b == 2);
  CHECK(ops[6].n_stats == 3);
  CHECK(ops[7].random_value);
  CHECK(ops[7].scale_hi == doctest::Approx(0.33));
  const auto r = make(
      "ops = [ { op = \"resize\", size = 10 }, { op = \"resize\", size = [4, 6], antialias = false "
      "} ]");
  const auto& ro = dynamic_cast<AugmentStage&>(*r).ops();
  CHECK(ro[0].size_w == 0);  // an int size is the smaller edge, as torchvision
  CHECK(ro[1].size_h == 4);
  CHECK(ro[1].size_w == 6);
  CHECK_FALSE(ro[1].antialias);
}

TEST_CASE("op errors name file:line:col, the op index and name, and the key") {
  const std::string unknown =
      error_of("ops = [ { op = \"hflip\" },\n  { op = \"rotat\", degrees = 3 } ]");
  CHECK(unknown.find("aug.toml:2:") != std::string::npos);
  CHECK(unknown.find("op 1: unknown op 'rotat' (did you mean 'rotate'?)") != std::string::npos);
  CHECK(unknown.find("known ops: center_crop, hflip, normalize, random_crop, random_erasing, "
                     "random_resized_crop, "
                     "resize, rotate, to_rgb, trivial_augment_wide") != std::string::npos);

  const std::string type = error_of("ops = [ { op = \"hflip\", p = \"half\" } ]");
  CHECK(type.find("aug.toml:1:") != std::string::npos);
  CHECK(type.find("stage 'aug' key 'ops': op 0 (hflip) key 'p': expected a number in [0, 1]") !=
        std::string::npos);

  CHECK(error_of("ops = [ { op = \"hflip\", p = 1.5 } ]")
            .find("op 0 (hflip) key 'p': 1.5 is out of range") != std::string::npos);
  CHECK(
      error_of("ops = [ { op = \"rotate\" } ]").find("op 0 (rotate) key 'degrees': is required") !=
      std::string::npos);
  CHECK(error_of("ops = [ { op = \"center_crop\", size = [3] } ]")
            .find("key 'size': expected an integer or [height, width]") != std::string::npos);
  CHECK(error_of("ops = [ { op = \"hflip\", prob = 0.3 } ]")
            .find("op 0 (hflip) key 'prob': unknown key; hflip takes: p") != std::string::npos);
  CHECK(error_of("ops = [ { op = \"random_crop\", size = 8, padding = [1, 2, 3] } ]")
            .find("key 'padding': expected N") != std::string::npos);
  CHECK(error_of("ops = [ { op = \"random_resized_crop\", size = 8, scale = [0.9, 0.1] } ]")
            .find("key 'scale': [0.9, 0.1]: expected [low, high]") != std::string::npos);
  CHECK(error_of("ops = [ { op = \"normalize\", mean = [0.5, 0.5], std = [0.2, 0.2, 0.2] } ]")
            .find("key 'std': has 3 values but mean has 2") != std::string::npos);
  CHECK(error_of("ops = [ { op = \"random_erasing\", value = \"noise\" } ]")
            .find("key 'value': expected a number") != std::string::npos);
  CHECK(error_of("ops = [ { op = \"normalize\", mean = 0.5, std = 0.5 }, { op = \"hflip\" } ]")
            .find("op 1 (hflip) comes after normalize") != std::string::npos);
  CHECK(error_of("ops = [ { op = \"random_erasing\" } ]").find("put normalize before it") !=
        std::string::npos);
  CHECK(error_of("ops = [ 3 ]").find("op 0: expected a table") != std::string::npos);
}

TEST_CASE("the stage equals the kernel chain per sample and writes f32 CHW after normalize") {
  auto st = make(kChain);
  const auto ops = dynamic_cast<AugmentStage&>(*st).ops();
  Batch b = test_batch(3);
  const Batch orig = test_batch(3);
  st->run(b);
  REQUIRE(b.image.dtype == DType::f32);
  REQUIRE(b.image.size() == 12u);
  aug::Scratch s;
  for (std::size_t i = 0; i < 12; ++i) {
    CHECK(b.image.dims[i] == ImageDims{24, 24, 3});
    const ImageDims& d = orig.image.dims[i];
    std::vector<float> want(24 * 24 * 3);
    aug::apply_ops_cpu(ops, orig.image.u8_at(i), {d.h, d.w, d.c}, nullptr, want.data(), 42, 3,
                       static_cast<std::uint64_t>(orig.index[i]), s);
    CHECK(std::equal(want.begin(), want.end(), b.image.f32_at(i)));
  }
}

TEST_CASE("normalize dtype = bf16 stores the f32 chain's values rounded to bf16") {
  std::string bf16_chain = kChain;
  const std::string norm = "std = [0.229, 0.224, 0.225] }";
  bf16_chain.replace(bf16_chain.find(norm), norm.size(),
                     "std = [0.229, 0.224, 0.225], dtype = \"bf16\" }");
  Batch f = test_batch(3), h = test_batch(3);
  make(kChain)->run(f);
  make(bf16_chain)->run(h);
  REQUIRE(h.image.dtype == DType::bf16);
  REQUIRE(h.image.bf16.size() == f.image.f32.size());
  CHECK(h.image.f32.empty());
  // Erasing commutes with the rounding, so the whole chain (noise boxes included) equals the f32
  // chain rounded element by element.
  std::size_t same = 0;
  for (std::size_t e = 0; e < h.image.bf16.size(); ++e)
    same += h.image.bf16[e] == aug::f32_to_bf16(f.image.f32[e]);
  CHECK(same == h.image.bf16.size());
  CHECK(error_of("ops = [ { op = \"normalize\", mean = 0.5, std = 0.5, dtype = \"f16\" } ]")
            .find("key 'dtype': 'f16' is not one of: f32, bf16") != std::string::npos);
}

TEST_CASE("output is byte-identical for 1 and 2 threads and changes with the epoch") {
  const Batch one = run_with_threads(kChain, 1, 1);
  const Batch two = run_with_threads(kChain, 2, 1);
  CHECK(one.image.f32 == two.image.f32);
  const Batch next = run_with_threads(kChain, 2, 2);
  CHECK(one.image.f32 != next.image.f32);
  const std::string u8_chain =
      "ops = [ { op = \"random_crop\", size = 16 }, { op = \"trivial_augment_wide\" } ]";
  CHECK(run_with_threads(u8_chain, 1, 1).image.u8 == run_with_threads(u8_chain, 2, 1).image.u8);
}

TEST_CASE("run errors name the stage and the sample") {
  auto st = make("ops = [ { op = \"random_crop\", size = 25 } ]");
  Batch b = test_batch(1);
  try {
    st->run(b);
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("stage 'aug' (augment)") != std::string::npos);
    CHECK(m.find("img0") != std::string::npos);  // the first image (20 rows) smaller than 25
    CHECK(m.find("larger than the padded image") != std::string::npos);
  }
  Batch f = test_batch(1);
  f.image.dtype = DType::f32;
  CHECK_THROWS_WITH_AS(st->run(f), doctest::Contains("column 'image' is f32 already"), Error);
}

TEST_CASE("device = cuda without a usable GPU is a clear error") {
  std::string why;
  if (aug::cuda_augment_available(&why)) return;  // a GPU machine: covered by test_augment_gpu
  auto st = make(std::string("device = \"cuda\"\n") + kChain);
  RunContext ctx;
  CHECK_THROWS_WITH_AS(st->setup(ctx), doctest::Contains("device = \"cuda\" but"), Error);
  auto a = make(std::string("device = \"auto\"\n") + kChain);
  a->setup(ctx);  // falls back to the CPU
  Batch b = test_batch(1);
  a->run(b);
  CHECK(b.image.dtype == DType::f32);
}

// Hostile input: op keys that size memory are bounded (a 50000-pixel crop is refused at parse time,
// not by running out of memory), and integers beyond 2^53 in number keys are read, not garbage.
TEST_CASE("memory-sizing op keys are bounded") {
  for (const char* op : {"center_crop", "resize", "random_crop", "random_resized_crop"}) {
    CAPTURE(op);
    CHECK(error_of(std::string("ops = [ { op = \"") + op + "\", size = 50000 } ]")
              .find("key 'size': 50000 is out of range: sizes are in [1, 16384]") !=
          std::string::npos);
    CHECK(error_of(std::string("ops = [ { op = \"") + op + "\", size = [8, 16385] } ]")
              .find("16385 is out of range") != std::string::npos);
    CHECK(error_of(std::string("ops = [ { op = \"") + op + "\", size = 16384 } ]") == "(no error)");
  }
  CHECK(error_of("ops = [ { op = \"random_crop\", size = 8, padding = 4097 } ]")
            .find("key 'padding': 4097 is out of range [0, 4096]") != std::string::npos);
  CHECK(error_of("ops = [ { op = \"random_crop\", size = 8, padding = [1, 9223372036854775807] } ]")
            .find("9223372036854775807 is out of range [0, 4096]") != std::string::npos);
  CHECK(error_of("ops = [ { op = \"hflip\", p = 9007199254740993 } ]")
            .find("op 0 (hflip) key 'p': 9007199254740992 is out of range") != std::string::npos);
}

// The parser, `flowtrain stages` and the kernels use one op list (kernels/augment/ops): every op
// of the registry parses with only its required keys (so every declared default passes its own
// key's checks and reaches the op as the declaration says), and the docs name every key.
TEST_CASE("every registered op parses from its schema's defaults and is documented") {
  std::vector<std::string> names;
  for (const aug::OpDef& d : aug::op_defs()) names.push_back(d.name);
  std::sort(names.begin(), names.end());
  CHECK(names == augment_op_names());
  const std::string doc = augment_ops_doc();
  for (const aug::OpDef& d : aug::op_defs()) {
    CAPTURE(d.name);
    std::string table = std::string("{ op = \"") + d.name + "\"";
    for (const aug::OpKey& k : d.keys) {
      CHECK(doc.find(k.spec.name + " ") != std::string::npos);
      if (!k.spec.default_value.empty() || k.spec.optional) continue;
      table += ", " + k.spec.name + (k.shape == aug::KeyShape::size ? " = 8" : " = 0.5");
    }
    table += " }";
    const bool after_normalize = d.kind == aug::OpKind::random_erasing;
    const std::string ops =
        after_normalize ? "ops = [ { op = \"normalize\", mean = 0.5, std = 0.5 }, " + table + " ]"
                        : "ops = [ " + table + " ]";
    CHECK(error_of(ops) == "(no error)");
  }
  // Defaults declared once reach the op description: torchvision's.
  const auto e =
      make("ops = [ { op = \"normalize\", mean = 0.5, std = 0.5 }, { op = \"random_erasing\" } ]");
  const auto& eo = dynamic_cast<AugmentStage&>(*e).ops()[1];
  CHECK(eo.p == 0.5f);
  CHECK(eo.scale_lo == 0.02f);
  CHECK(eo.ratio_hi == 3.3f);
  const auto c = make("ops = [ { op = \"random_resized_crop\", size = 8 } ]");
  const auto& co = dynamic_cast<AugmentStage&>(*c).ops()[0];
  CHECK(co.scale_lo == 0.08f);
  CHECK(co.ratio_lo == 3.0f / 4.0f);
  CHECK(co.ratio_hi == 4.0f / 3.0f);
}

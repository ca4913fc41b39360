// output = "host" without the copy: when every sample ends in one f32 shape, the augment stage
// writes each into its slot of the dense `input` and the batch stage leaves it; the result equals
// the image path followed by the batch stage bit for bit. bf16 and ragged outputs keep the image
// path (a ragged batch still fails clearly in the batch stage), and the access declaration says
// which columns the stage may write.
#include <doctest/doctest.h>
#include <tbb/task_arena.h>

#include <cstring>

#include "pipeline/error.hpp"
#include "stages/augment/augment_stage.hpp"
#include "stages/register_all.hpp"

using namespace ft;

namespace {

Params params_of(const StageKind& k, const std::string& toml_text) {
  toml::table t = toml::parse(std::string_view(toml_text), std::string_view("pack.toml"));
  return Params(std::move(t), "aug", "pack.toml", &k.params);
}

std::unique_ptr<Stage> make_augment(const std::string& toml_text) {
  static const StageKind k = augment_kind();
  return k.make(params_of(k, toml_text));
}

Access access_of(const std::string& toml_text) {
  static const StageKind k = augment_kind();
  return k.access(params_of(k, toml_text));
}

// n images of `sizes[i % sizes.size()]` (h, w) with `c` channels, as decode leaves them.
Batch decoded_batch(std::size_t n, std::vector<std::pair<int, int>> sizes, int c) {
  Batch b;
  b.seed = 11;
  b.epoch = 2;
  std::vector<ImageDims> dims;
  for (std::size_t i = 0; i < n; ++i) {
    const auto [h, w] = sizes[i % sizes.size()];
    dims.push_back(ImageDims{h, w, c});
    b.id.push_back("s" + std::to_string(i));
    b.index.push_back(static_cast<std::int64_t>(3 * i + 1));
    b.label.push_back(0);
  }
  b.image.layout(DType::u8, dims);
  for (std::size_t k = 0; k < b.image.u8.size(); ++k)
    b.image.u8[k] = static_cast<std::uint8_t>((k * 37 + k / 7) % 251);
  return b;
}

// Runs augment (with `ops`, output = `output`) then the batch stage; returns the batch.
Batch augment_then_batch(const std::string& ops, const std::string& output, Batch b,
                         int threads = 2) {
  auto aug = make_augment("output = \"" + output + "\"\n" + ops);
  const StageKind bk = batch_kind();
  auto collate = bk.make(params_of(bk, ""));
  tbb::task_arena arena(threads);
  arena.execute([&] {
    aug->run(b);
    collate->run(b);
  });
  return b;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape == b.shape && a.data.size() == b.data.size() &&
         std::memcmp(a.data.data(), b.data.data(), a.data.size() * sizeof(float)) == 0;
}

const char* kRgbChain =
    R"(ops = [ { op = "random_resized_crop", size = [17, 23] }, { op = "hflip" },
  { op = "rotate", degrees = 15, fill = [10, 200, 30] }, { op = "trivial_augment_wide" },
  { op = "normalize", mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225] },
  { op = "random_erasing", value = "random", p = 0.7 } ])";

}  // namespace

TEST_CASE("a fixed-shape f32 chain lands in input without a copy, equal to the image path") {
  const auto sizes = std::vector<std::pair<int, int>>{{31, 40}, {29, 33}, {40, 27}};
  const Batch packed = augment_then_batch(kRgbChain, "host", decoded_batch(13, sizes, 3));
  const Batch copied = augment_then_batch(kRgbChain, "image", decoded_batch(13, sizes, 3));
  CHECK(packed.image.size() == 0u);  // the per-sample list was never filled
  CHECK(copied.image.size() == 13u);
  CHECK(packed.input.shape == std::vector<std::int64_t>{13, 3, 17, 23});
  CHECK(same_bits(packed.input, copied.input));
  // One thread gives the same bits; so does a second batch through the same (pooled) stage.
  CHECK(same_bits(augment_then_batch(kRgbChain, "host", decoded_batch(13, sizes, 3), 1).input,
                  packed.input));
}

TEST_CASE("gray images and a chain ending in a plain f32 normalize pack the same way") {
  const std::string ops =
      "ops = [ { op = \"center_crop\", size = 9 }, { op = \"hflip\", p = 1.0 },\n"
      "  { op = \"normalize\", mean = 0.5, std = 0.25 } ]";
  const auto sizes = std::vector<std::pair<int, int>>{{12, 11}, {9, 9}};
  const Batch packed = augment_then_batch(ops, "host", decoded_batch(5, sizes, 1));
  const Batch copied = augment_then_batch(ops, "image", decoded_batch(5, sizes, 1));
  CHECK(packed.image.size() == 0u);
  CHECK(packed.input.shape == std::vector<std::int64_t>{5, 1, 9, 9});
  CHECK(same_bits(packed.input, copied.input));
}

TEST_CASE("bf16, u8 and ragged outputs keep the image path; ragged fails clearly in batch") {
  const auto one = std::vector<std::pair<int, int>>{{20, 20}};
  const Batch h = augment_then_batch(
      "ops = [ { op = \"normalize\", mean = 0.5, std = 0.5, dtype = \"bf16\" } ]", "host",
      decoded_batch(4, one, 3));
  CHECK(h.image.dtype == DType::bf16);
  CHECK(h.image.size() == 4u);
  CHECK(h.input.shape == std::vector<std::int64_t>{4, 3, 20, 20});
  const Batch u =
      augment_then_batch("ops = [ { op = \"hflip\" } ]", "host", decoded_batch(4, one, 3));
  CHECK(u.image.dtype == DType::u8);
  CHECK(u.image.size() == 4u);

  const auto ragged = std::vector<std::pair<int, int>>{{20, 20}, {21, 20}};
  CHECK_THROWS_WITH_AS(
      augment_then_batch("ops = [ { op = \"normalize\", mean = 0.5, std = 0.5 } ]", "host",
                         decoded_batch(4, ragged, 3)),
      doctest::Contains("sample 's1' has shape 21x20x3 but the batch's first sample has "
                        "20x20x3; add a resize or crop"),
      Error);
}

TEST_CASE("the access declaration names input where the stage may write it") {
  const std::string f32 = "ops = [ { op = \"normalize\", mean = 0.5, std = 0.5 } ]";
  const std::string bf16 =
      "ops = [ { op = \"normalize\", mean = 0.5, std = 0.5, dtype = \"bf16\" } ]";
  using Cols = std::vector<std::string>;
  CHECK(access_of(f32).writes == Cols{"image", "input"});
  CHECK(access_of("output = \"image\"\n" + f32).writes == Cols{"image"});
  CHECK(access_of(bf16).writes == Cols{"image"});
  CHECK(access_of("ops = [ { op = \"hflip\" } ]").writes == Cols{"image"});
}

// augment_preview: a PNG grid per augment op showing its effect on real images, for eyeballing
// what the tests check numerically. Rows are input images (JPEGs given on the command line, by
// default four Fashion-MNIST samples plus a synthetic RGB image); column 0 is the input, the next
// eight are the op's output for eight sample ids. f32 outputs are shown de-normalized.
// Usage: augment_preview OUT_DIR [image.jpg ...]   (build: ninja -C BUILD
// tests/kernels/augment/augment_preview)
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/augment/ops.hpp"
#include "kernels/io/jpeg.hpp"
#include "kernels/io/png.hpp"

using namespace ft::aug;

namespace {

constexpr int kCell = 96, kSamples = 8, kGap = 2;

struct Image {
  Dims d;
  std::vector<std::uint8_t> px;
};

Image synthetic_rgb() {
  Image im{{80, 100, 3}, {}};
  for (int y = 0; y < 80; ++y)
    for (int x = 0; x < 100; ++x) {
      const bool ring = (x - 50) * (x - 50) + (y - 40) * (y - 40) < 900;
      im.px.push_back(static_cast<std::uint8_t>(ring ? 230 : x * 2));
      im.px.push_back(static_cast<std::uint8_t>(y * 3));
      im.px.push_back(static_cast<std::uint8_t>((x / 10 + y / 10) % 2 ? 200 : 40));
    }
  return im;
}

// Converts to RGB u8 (de-normalizing f32 CHW) and resizes to the grid cell.
void to_cell(std::uint8_t* cell, const Image& im, const std::vector<float>* f32,
             const AugmentOp* norm) {
  Image rgb{{im.d.h, im.d.w, 3},
            std::vector<std::uint8_t>(static_cast<std::size_t>(im.d.h) * im.d.w * 3)};
  const std::size_t plane = static_cast<std::size_t>(im.d.h) * im.d.w;
  for (std::size_t i = 0; i < plane; ++i)
    for (int ch = 0; ch < 3; ++ch) {
      const int src = im.d.c == 3 ? ch : 0;
      float v;
      if (f32) {
        const int k = norm->n_stats == 1 ? 0 : src;
        v = ((*f32)[src * plane + i] * norm->std[k] + norm->mean[k]) * 255.0f;
      } else {
        v = im.px[i * im.d.c + src];
      }
      rgb.px[i * 3 + ch] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 255.0f));
    }
  Scratch s;
  resize_cpu(cell, {kCell, kCell, 3}, rgb.px.data(), rgb.d, 0, 0, rgb.d.h, rgb.d.w, true, s);
}

void write_grid(const std::string& path, const std::vector<AugmentOp>& ops,
                const std::vector<Image>& inputs) {
  const int cols = 1 + kSamples, rows = static_cast<int>(inputs.size());
  const int gw = cols * (kCell + kGap), gh = rows * (kCell + kGap);
  std::vector<std::uint8_t> grid(static_cast<std::size_t>(gw) * gh * 3, 255),
      cell(kCell * kCell * 3);
  const auto put = [&](int r, int c) {
    for (int y = 0; y < kCell; ++y)
      std::copy_n(
          cell.data() + y * kCell * 3, kCell * 3,
          grid.data() +
              ((static_cast<std::size_t>(r) * (kCell + kGap) + y) * gw + c * (kCell + kGap)) * 3);
  };
  const AugmentOp* norm = nullptr;
  for (const auto& op : ops)
    if (op.kind == OpKind::normalize) norm = &op;
  Scratch s;
  for (int r = 0; r < rows; ++r) {
    to_cell(cell.data(), inputs[r], nullptr, nullptr);
    put(r, 0);
    const Plan plan = plan_output(ops, inputs[r].d);
    Image out{plan.dims, std::vector<std::uint8_t>(plan.f32 ? 0 : plan.dims.numel())};
    std::vector<float> f(plan.f32 ? plan.dims.numel() : 0);
    for (int k = 0; k < kSamples; ++k) {
      apply_ops_cpu(ops, inputs[r].px.data(), inputs[r].d, out.px.data(), f.data(), 0, 1,
                    10 * r + k, s);
      to_cell(cell.data(), out, plan.f32 ? &f : nullptr, norm);
      put(r, 1 + k);
    }
  }
  ft::io::write_png(path, grid.data(), gh, gw, 3);
  std::printf("wrote %s\n", path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: augment_preview OUT_DIR [image.jpg ...]\n");
    return 2;
  }
  const std::string out = argv[1];
  std::filesystem::create_directories(out);
  std::vector<std::string> files(argv + 2, argv + argc);
  if (files.empty())
    for (const char* f :
         {"data/fashion-mnist/train/00000.jpg", "data/fashion-mnist/train/00001.jpg",
          "data/fashion-mnist/train/00002.jpg", "data/fashion-mnist/train/00003.jpg"})
      if (std::filesystem::exists(f)) files.push_back(f);
  std::vector<Image> inputs;
  for (const auto& f : files) {
    const auto bytes = ft::io::read_file_bytes(f);
    ft::io::JpegInfo info;
    auto px = ft::io::decode_jpeg(bytes.data(), bytes.size(), info, f);
    inputs.push_back({{info.height, info.width, info.channels}, std::move(px)});
  }
  inputs.push_back(synthetic_rgb());
  AugmentOp norm{.kind = OpKind::normalize, .n_stats = 1};
  norm.mean[0] = 0.5f;
  norm.std[0] = 0.25f;
  AugmentOp rot{.kind = OpKind::rotate, .degrees = 30.0f};
  const AugmentOp ta{
      .kind = OpKind::trivial_augment_wide, .interp = Interp::nearest, .has_fill = false};
  const AugmentOp erase{.kind = OpKind::random_erasing,
                        .p = 1.0f,
                        .scale_lo = 0.02f,
                        .scale_hi = 0.33f,
                        .ratio_lo = 0.3f,
                        .ratio_hi = 3.3f,
                        .random_value = true};
  const std::vector<std::pair<std::string, std::vector<AugmentOp>>> cases = {
      {"resize_48", {AugmentOp{.kind = OpKind::resize, .size_h = 48}}},
      {"center_crop_20", {AugmentOp{.kind = OpKind::center_crop, .size_h = 20, .size_w = 20}}},
      {"random_crop_pad4",
       {AugmentOp{.kind = OpKind::random_crop,
                  .size_h = 28,
                  .size_w = 28,
                  .pad_l = 4,
                  .pad_t = 4,
                  .pad_r = 4,
                  .pad_b = 4,
                  .pad_if_needed = true}}},
      {"hflip", {AugmentOp{.kind = OpKind::hflip, .p = 0.5f}}},
      {"rotate_30", {rot}},
      {"random_resized_crop_28",
       {AugmentOp{.kind = OpKind::random_resized_crop, .size_h = 28, .size_w = 28}}},
      {"trivial_augment_wide", {ta}},
      {"random_erasing", {norm, erase}},
      {"seed_chain",
       {AugmentOp{.kind = OpKind::resize, .size_h = 64, .size_w = 64},
        AugmentOp{.kind = OpKind::random_resized_crop, .size_h = 56, .size_w = 56},
        AugmentOp{.kind = OpKind::hflip, .p = 0.5f}, ta, norm, erase}},
  };
  for (const auto& [name, ops] : cases) write_grid(out + "/" + name + ".png", ops, inputs);
  return 0;
}

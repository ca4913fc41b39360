// The `batch` stage: packs the per-sample images into the dense (N, C, H, W) f32 `input` tensor
// the model reads. u8 HWC images are scaled to [0, 1] (torchvision's ToTensor); f32 CHW images
// (after normalize) are copied; bf16 CHW images are widened to f32 (exact: every bf16 is a float).
// Every sample must have the same shape by now. When an augment stage already wrote `input` (in
// GPU memory with output = "device", or on the host, sample by sample into its slot, clearing
// `image`), there is nothing left to pack.
#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include "kernels/augment/pixel.hpp"
#include "pipeline/error.hpp"
#include "stages/register_all.hpp"

namespace ft {

namespace {

class Collate final : public Stage {
 public:
  void run(Batch& b) override {
    if (!b.input_device.empty())
      return;  // an augment stage with output = "device" packed it on the GPU
    if (b.image.size() == 0 && !b.input.shape.empty() &&
        b.input.shape[0] == static_cast<std::int64_t>(b.size()))
      return;  // an augment stage wrote every sample into its slot of `input`
    const std::size_t n = b.image.size();
    FT_ASSERT(n == b.size());
    if (n == 0) {
      b.input.resize({0, 0, 0, 0});
      return;
    }
    const ImageDims d0 = b.image.dims[0];
    for (std::size_t i = 1; i < n; ++i)
      if (!(b.image.dims[i] == d0))
        throw Error(fmt::format(
            "{} has shape {}x{}x{} but the batch's first sample has {}x{}x{}; add a resize or "
            "crop to the augment ops so every sample has one size",
            b.describe(i), b.image.dims[i].h, b.image.dims[i].w, b.image.dims[i].c, d0.h, d0.w,
            d0.c));
    const DType t = b.image.dtype;
    // u8 images are HWC; f32 / bf16 images are CHW with dims (h, w, c) meaning the same sizes.
    const int c = d0.c, h = d0.h, w = d0.w;
    b.input.resize({static_cast<std::int64_t>(n), c, h, w});
    const std::size_t plane = static_cast<std::size_t>(h) * w, per = plane * c;
    tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
      float* out = b.input.data.data() + i * per;
      if (t == DType::u8) {
        const std::uint8_t* in = b.image.u8_at(i);
        for (int ch = 0; ch < c; ++ch)
          for (std::size_t p = 0; p < plane; ++p)
            out[ch * plane + p] = in[p * c + ch] * (1.0f / 255.0f);
      } else if (t == DType::bf16) {
        const std::uint16_t* in = b.image.bf16_at(i);
        for (std::size_t e = 0; e < per; ++e) out[e] = aug::bf16_to_f32(in[e]);
      } else {
        std::copy_n(b.image.f32_at(i), per, out);
      }
    });
  }
};

}  // namespace

StageKind batch_kind() {
  StageKind k;
  k.name = "batch";
  k.doc =
      "Packs the per-sample images into the dense (N, C, H, W) f32 input tensor (u8 scaled to [0, "
      "1], bf16 "
      "widened exactly)";
  k.access = [](const Params&) { return Access{{col::kImage}, {col::kInput}}; };
  k.make = [](const Params&) { return std::make_unique<Collate>(); };
  return k;
}

}  // namespace ft

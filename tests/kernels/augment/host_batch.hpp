// Synthetic batches of mixed-size images for the CUDA tests (the host emulation and the GPU
// conformance suite): sizes vary per sample, with 1x1 images and gray/RGB mixed in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/augment/cuda.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/pixel.hpp"

namespace ft::aug::testing {

struct HostBatch {
  std::vector<std::uint8_t> pixels;
  std::vector<std::size_t> offsets;
  std::vector<Dims> dims;
  std::vector<std::uint64_t> ids;
};

// Sample i is 1x1 when i % one_in == 5, else (base + h0 + i*7 % h_mod) x (base + w0 + i*13 %
// w_mod).
struct BatchShape {
  int one_in, h0, w0, h_mod, w_mod;
  std::uint64_t id0, id_step;
};

inline HostBatch make_batch(const BatchShape& s, std::size_t n, bool rgb_only, int base = 0) {
  HostBatch b;
  for (std::size_t i = 0; i < n; ++i) {
    const bool tiny = static_cast<int>(i % static_cast<std::size_t>(s.one_in)) == 5;
    const int h =
        tiny ? 1 : base + s.h0 + static_cast<int>((i * 7) % static_cast<std::size_t>(s.h_mod));
    const int w =
        tiny ? 1 : base + s.w0 + static_cast<int>((i * 13) % static_cast<std::size_t>(s.w_mod));
    const int c = (rgb_only || i % 3) ? 3 : 1;
    b.offsets.push_back(b.pixels.size());
    b.dims.push_back({h, w, c});
    b.ids.push_back(s.id0 + s.id_step * i);
    for (int k = 0; k < h * w * c; ++k)
      b.pixels.push_back(static_cast<std::uint8_t>((k * 37 + i * 11 + (k / 5) * 3) % 256));
  }
  return b;
}

// A chain's output over a HostBatch, laid out back to back in the plan's type (u8, f32 or bf16).
struct ChainOutput {
  std::vector<Dims> dims;
  std::vector<std::size_t> offsets;
  std::size_t total = 0;
  OutType type = OutType::u8;
  std::vector<std::uint8_t> u8;
  std::vector<float> f32;
  std::vector<std::uint16_t> bf16;

  ChainOutput(const std::vector<AugmentOp>& ops, const HostBatch& b) {
    for (const Dims& d : b.dims) {
      const Plan p = plan_output(ops, d);
      dims.push_back(p.dims);
      offsets.push_back(total);
      total += p.dims.numel();
      type = p.bf16 ? OutType::bf16 : p.f32 ? OutType::f32 : OutType::u8;
    }
    (type == OutType::u8    ? u8.resize(total)
     : type == OutType::f32 ? f32.resize(total)
                            : bf16.resize(total));
  }
  void* data() {
    return type == OutType::u8    ? static_cast<void*>(u8.data())
           : type == OutType::f32 ? static_cast<void*>(f32.data())
                                  : static_cast<void*>(bf16.data());
  }
  ChainOut at(std::size_t i) {
    ChainOut o;
    if (type == OutType::u8) o.u8 = u8.data() + offsets[i];
    if (type == OutType::f32) o.f32 = f32.data() + offsets[i];
    if (type == OutType::bf16) o.bf16 = bf16.data() + offsets[i];
    return o;
  }
  // Element k (across the batch) as a number: u8 levels or float values.
  double value(std::size_t k) const {
    return type == OutType::u8 ? u8[k] : type == OutType::f32 ? f32[k] : bf16_to_f32(bf16[k]);
  }
  bool operator==(const ChainOutput& o) const {
    return type == o.type && u8 == o.u8 && f32 == o.f32 && bf16 == o.bf16;
  }
  // The CudaBatch that writes into this output.
  CudaBatch cuda_batch(const HostBatch& b, std::uint64_t seed, std::uint32_t epoch) {
    return CudaBatch{
        b.pixels.data(), b.offsets.data(), b.dims.data(),  b.dims.size(), b.ids.data(), seed,
        epoch,           data(),           offsets.data(), dims.data(),   type};
  }
};

// The CPU chain over every sample of b.
inline ChainOutput run_cpu_chain(const std::vector<AugmentOp>& ops, const HostBatch& b,
                                 std::uint64_t seed, std::uint32_t epoch) {
  ChainOutput out(ops, b);
  Scratch s;
  for (std::size_t i = 0; i < b.dims.size(); ++i)
    apply_ops_cpu(ops, b.pixels.data() + b.offsets[i], b.dims[i], out.at(i), seed, epoch, b.ids[i],
                  s);
  return out;
}

// ImageNet normalization over the first n channels.
inline AugmentOp normalize_op(int n) {
  AugmentOp op{.kind = OpKind::normalize};
  const float mean[3] = {0.485f, 0.456f, 0.406f}, stdev[3] = {0.229f, 0.224f, 0.225f};
  for (int k = 0; k < 3; ++k) {
    op.mean[k] = mean[k];
    op.std[k] = stdev[k];
  }
  op.n_stats = n;
  return op;
}
// The seed's training chain: resize to `resize`, random_resized_crop `crop`, hflip,
// trivial_augment_wide, ImageNet normalize (f32 or bf16), random_erasing (p 0.5, noise).
inline std::vector<AugmentOp> seed_chain(int resize, int crop, bool bf16 = false) {
  AugmentOp norm = normalize_op(3);
  norm.bf16 = bf16;
  return {
      AugmentOp{.kind = OpKind::resize, .size_h = resize, .size_w = resize},
      AugmentOp{.kind = OpKind::random_resized_crop, .size_h = crop, .size_w = crop},
      AugmentOp{.kind = OpKind::hflip, .p = 0.5f},
      AugmentOp{.kind = OpKind::trivial_augment_wide, .interp = Interp::nearest, .has_fill = false},
      norm,
      AugmentOp{.kind = OpKind::random_erasing,
                .p = 0.5f,
                .scale_lo = 0.02f,
                .scale_hi = 0.33f,
                .ratio_lo = 0.3f,
                .ratio_hi = 3.3f,
                .random_value = true}};
}

inline AugmentOp normalize_bf16_op(int n) {
  AugmentOp op = normalize_op(n);
  op.bf16 = true;
  return op;
}

// One conformance case: a chain, run on the mixed (gray and RGB) batch or the RGB-only one.
struct OpCase {
  std::string name;
  std::vector<AugmentOp> ops;
  bool rgb_only = false;
  std::uint32_t epoch = 1;
};

// Every op alone, with its variants (padding modes, interpolations, erasing values, bf16), for
// the emulated and the GPU suites alike. trivial_augment_wide runs `ta_epochs` epochs so that the
// batch's draws cover all 14 of its ops.
inline std::vector<OpCase> every_op_cases(std::uint32_t ta_epochs) {
  std::vector<OpCase> cases = {
      {"resize aa", {AugmentOp{.kind = OpKind::resize, .size_h = 17, .size_w = 13}}},
      {"resize shrink", {AugmentOp{.kind = OpKind::resize, .size_h = 4, .size_w = 3}}},
      {"resize plain",
       {AugmentOp{.kind = OpKind::resize, .size_h = 4, .size_w = 9, .antialias = false}}},
      {"resize short edge", {AugmentOp{.kind = OpKind::resize, .size_h = 10}}},
      {"center_crop (pads small images)",
       {AugmentOp{.kind = OpKind::center_crop, .size_h = 9, .size_w = 11}}},
      {"hflip", {AugmentOp{.kind = OpKind::hflip, .p = 0.5f}}},
      {"to_rgb", {AugmentOp{.kind = OpKind::to_rgb}}},
      {"normalize (1 mean/std)", {normalize_op(1)}},
      {"normalize (3 means/stds)", {normalize_op(3)}, true},
      {"normalize bf16", {normalize_bf16_op(1)}},
      {"random_resized_crop",
       {AugmentOp{.kind = OpKind::random_resized_crop, .size_h = 12, .size_w = 10}}},
  };
  AugmentOp pad{.kind = OpKind::random_crop,
                .size_h = 12,
                .size_w = 14,
                .pad_l = 3,
                .pad_t = 2,
                .pad_r = 1,
                .pad_b = 4,
                .pad_if_needed = true};
  pad.fill[0] = 17;
  cases.push_back({"random_crop constant pad", {pad}});
  pad.pad_mode = PadMode::edge;
  cases.push_back({"random_crop edge pad", {pad}});
  AugmentOp rot{.kind = OpKind::rotate, .degrees = 40.0f};
  rot.fill[0] = 90;
  cases.push_back({"rotate bilinear fill 90", {rot}});
  rot.interp = Interp::nearest;
  cases.push_back({"rotate nearest", {rot}});
  AugmentOp ta{.kind = OpKind::trivial_augment_wide, .interp = Interp::nearest, .has_fill = false};
  for (std::uint32_t epoch = 1; epoch <= ta_epochs; ++epoch)
    cases.push_back({"trivial_augment_wide epoch " + std::to_string(epoch), {ta}, false, epoch});
  ta.interp = Interp::bilinear;
  ta.has_fill = true;
  ta.fill[0] = 128;
  cases.push_back({"trivial_augment_wide bilinear fill", {ta}});
  AugmentOp erase{.kind = OpKind::random_erasing,
                  .p = 1.0f,
                  .scale_lo = 0.02f,
                  .scale_hi = 0.33f,
                  .ratio_lo = 0.3f,
                  .ratio_hi = 3.3f};
  erase.fill[0] = 0.5f;
  cases.push_back({"random_erasing value", {normalize_op(3), erase}, true});
  erase.random_value = true;
  cases.push_back({"random_erasing random", {normalize_op(3), erase}, true});
  cases.push_back({"random_erasing random bf16", {normalize_bf16_op(3), erase}, true});
  return cases;
}

// Steps the CUDA path fuses into one kernel (crop/resize + hflip, + normalize), on RGB images.
inline std::vector<OpCase> fused_cases() {
  const AugmentOp flip{.kind = OpKind::hflip, .p = 0.5f};
  const AugmentOp rrc{.kind = OpKind::random_resized_crop, .size_h = 16, .size_w = 16};
  return {{"rrc + hflip + normalize", {rrc, flip, normalize_op(3)}, true},
          {"rrc + hflip + normalize bf16", {rrc, flip, normalize_bf16_op(3)}, true},
          {"center_crop + hflip",
           {AugmentOp{.kind = OpKind::center_crop, .size_h = 10, .size_w = 7}, flip},
           true},
          {"resize + normalize",
           {AugmentOp{.kind = OpKind::resize, .size_h = 30, .size_w = 30}, normalize_op(3)},
           true},
          {"rotate + normalize",
           {AugmentOp{.kind = OpKind::rotate, .degrees = 30.0f}, normalize_op(3)},
           true},
          {"hflip + hflip", {flip, flip}, true}};
}

}  // namespace ft::aug::testing

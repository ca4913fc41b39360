// Plain-data descriptions shared by the CPU loops and the CUDA kernels: image dims, the op list
// (AugmentOp, one per configured op) and one sample's drawn parameters (OpDraw). No std::
// containers here so the structs can be copied to the device as they are. Layout invariant: u8
// images are HWC; f32 images (after normalize) are CHW.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/augment/ops/list.hpp"
#include "kernels/random/philox.hpp"  // FT_HD

namespace ft::aug {

inline constexpr int kMaxChannels = 4;

struct Dims {
  int h = 0, w = 0, c = 0;
  std::size_t numel() const { return static_cast<std::size_t>(h) * w * c; }
  bool operator==(const Dims&) const = default;
};

// One per FT_AUGMENT_OPS entry, in its order; each op's keys and behaviour are in ops/<name>.cpp.
enum class OpKind : std::uint8_t {
#define FT_OP_KIND(name) name,
  FT_AUGMENT_OPS(FT_OP_KIND)
#undef FT_OP_KIND
};
#define FT_OP_COUNT(name) +1
inline constexpr int kNumOps = 0 FT_AUGMENT_OPS(FT_OP_COUNT);
#undef FT_OP_COUNT

// How the CUDA plan treats an op's step (cuda_plan.cpp: which fusions apply, whether it works on
// the float image); the kernels themselves come from the op's functor, ops/<name>.hpp.
enum class KernelFamily : std::uint8_t { crop, resize, rotate, to_rgb, ta, normalize, erase };

enum class PadMode : std::uint8_t { constant, edge, reflect, symmetric };
enum class Interp : std::uint8_t { nearest, bilinear };

// TrivialAugmentWide's ops in torchvision 0.14's order (the index drawn selects one).
enum class TaOp : std::uint8_t {
  identity,
  shear_x,
  shear_y,
  translate_x,
  translate_y,
  rotate,
  brightness,
  color,
  contrast,
  sharpness,
  posterize,
  solarize,
  auto_contrast,
  equalize
};
inline constexpr int kNumTaOps = 14;

// One configured op. Only the fields of its kind matter; the defaults are torchvision's.
struct AugmentOp {
  OpKind kind = OpKind::hflip;
  int size_h = 0, size_w = 0;  // resize / crops / random_resized_crop output size
  bool antialias = true;       // resize / random_resized_crop: antialias when shrinking
  int pad_l = 0, pad_t = 0, pad_r = 0, pad_b = 0;  // random_crop padding
  PadMode pad_mode = PadMode::constant;
  bool pad_if_needed = false;
  float p = 0.5f;                    // hflip / random_erasing probability
  float degrees = 0.0f;              // rotate range
  Interp interp = Interp::bilinear;  // rotate; trivial_augment_wide defaults to nearest
  bool has_fill = true;  // false: torchvision's fill=None (plain zero padding, no mask blend)
  float fill[kMaxChannels] = {0, 0, 0, 0};  // per-channel fill (u8 ops) or erasing value (f32)
  int n_fill = 1;                           // 1 = broadcast to every channel
  float mean[kMaxChannels] = {0, 0, 0, 0}, std[kMaxChannels] = {1, 1, 1, 1};
  int n_stats = 1;    // normalize: 1 = broadcast, else must equal the channel count
  bool bf16 = false;  // normalize: store bfloat16 (round to nearest even) instead of f32
  float scale_lo = 0.08f, scale_hi = 1.0f;  // random_resized_crop / random_erasing area range
  float ratio_lo = 3.0f / 4.0f, ratio_hi = 4.0f / 3.0f;
  int num_bins = 31;          // trivial_augment_wide
  bool random_value = false;  // random_erasing: value = "random" (N(0,1) noise per element)

  FT_HD float fill_for(int channel) const { return fill[n_fill == 1 ? 0 : channel]; }
};

// One sample's parameters for one op, drawn on the host (draw_op) and used by both CPU and CUDA
// loops, so the two paths agree on every random choice by construction.
struct OpDraw {
  bool apply = true;      // false: the op leaves the image unchanged (p draw, erasing miss)
  int top = 0, left = 0;  // crop window / erasing box in input coordinates (may be < 0:
  int h = 0, w = 0;       //   the window reaches into padding)
  bool flip = false;
  float matrix[6] = {1, 0, 0, 0, 1, 0};  // affine: torchvision's inverse matrix (centered coords)
  Interp interp = Interp::bilinear;
  bool has_fill = true;
  TaOp ta = TaOp::identity;
  float magnitude = 0.0f;  // trivial_augment_wide magnitude, sign applied
};

}  // namespace ft::aug

// The augmentation chain on the host: planning output shapes, drawing one sample's parameters,
// and the CPU loops (one op at a time over one sample; the caller parallelises across samples).
// Kernels throw std::invalid_argument for a bad op list or image; stages translate to ft::Error.
//
// Randomness: op k of sample s in (seed, epoch) draws from Philox(seed, epoch, s, k), in this
// order:
//   hflip: u(p). rotate: u(angle). random_crop: below(top range), below(left range).
//   random_resized_crop: up to 10 x [u(area), u(log ratio)], then below(top), below(left).
//   trivial_augment_wide: below(14) op, below(num_bins) bin, below(2) sign (signed ops only).
//   random_erasing: u(p), up to 10 x [u(area), u(log ratio)], below(top), below(left); noise uses
//   its own counter blocks (ops/random_erasing.hpp erase_noise). resize, center_crop, normalize
//   draw nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/augment/types.hpp"
#include "kernels/random/philox.hpp"

namespace ft::aug {

const char* op_name(OpKind k);
const char* ta_op_name(TaOp t);

// Output of a chain: its dims and whether it is float CHW (normalize ran) or u8 HWC. A float
// output is stored as f32, or as bf16 bits (std::uint16_t) when the normalize op says dtype = bf16.
struct Plan {
  Dims dims;
  bool f32 = false;        // normalized: float values, CHW
  bool bf16 = false;       // ... stored as bfloat16
  std::size_t max_u8 = 0;  // largest intermediate u8 image (elements), for scratch sizing
};
// Output shape of `ops` over an input of dims `in`; throws std::invalid_argument when the chain
// cannot run on it (e.g. normalize with 3 means on a 1-channel image, an op after normalize other
// than random_erasing). Output dims never depend on random draws.
Plan plan_output(const std::vector<AugmentOp>& ops, Dims in);
// Dims after one op (u8 ops only).
Dims op_output_dims(const AugmentOp& op, Dims in);
// The chain's static checks (ops after normalize, ranges); throws std::invalid_argument.
void validate_ops(const std::vector<AugmentOp>& ops);

// One sample's parameters for op `op_index` on an input of dims `in`.
OpDraw draw_op(const AugmentOp& op, Dims in, std::uint64_t seed, std::uint32_t epoch,
               std::uint64_t sample, std::uint32_t op_index);

// torchvision's _get_inverse_affine_matrix (angle and shear in degrees, centered coordinates).
void inverse_affine_matrix(float* m, double center_x, double center_y, double angle, double tx,
                           double ty, double scale, double shear_x, double shear_y);
// torchvision 0.14's TrivialAugmentWide magnitude of bin `bin` for op `t` (unsigned).
float ta_magnitude(TaOp t, int bin, int num_bins);
bool ta_signed(TaOp t);
// Fills d.matrix / d.interp for a geometric TrivialAugmentWide op at magnitude d.magnitude.
void ta_geometry(OpDraw& d, Dims in);
// random_resized_crop's crop (erasing false) and random_erasing's box (u(p) first): 10 tries of
// an area and a log-uniform ratio; then a central crop, or (erasing) no box.
void draw_area_box(const AugmentOp& op, Dims in, rng::Philox& r, OpDraw& d, bool erasing);

// The affine warp's per-row buffers: source coordinates, taps, weights, in-bounds weight sums;
// and (AVX2, RGB) the image as float RGBx.
struct AffineScratch {
  std::vector<float> ix, iy, wt, mask, rgbx;
  std::vector<int> off;
};

// Reusable buffers for one worker: grown on first use, never shrunk (no steady-state allocation).
struct Scratch {
  std::vector<std::uint8_t> a, b;
  std::vector<float> tmp, wx, wy, row, src_row, noise;
  std::vector<int> ix, iy, nx, ny;
  AffineScratch affine;
};
// v's storage for at least n elements (grown, never shrunk).
template <class T>
T* grow(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// ---- single ops with explicit parameters (used by the chain and by the fixture tests) ---------
// Crop window (top, left, out.h, out.w) of `in`, reading padding per `mode` / `fill`, optionally
// mirrored left-right. Covers center_crop, random_crop (with padding) and hflip.
void crop_pad_cpu(std::uint8_t* out, Dims out_d, const std::uint8_t* in, Dims in_d, int top,
                  int left, PadMode mode, const float* fill, int n_fill, bool flip);
// Bilinear resize of the window (top, left, win_h, win_w) of `in` to out_d (window inside `in`).
void resize_cpu(std::uint8_t* out, Dims out_d, const std::uint8_t* in, Dims in_d, int top, int left,
                int win_h, int win_w, bool antialias, Scratch& s);
// Affine warp with torchvision's inverse matrix m (same size out as in).
void affine_cpu(std::uint8_t* out, const std::uint8_t* in, Dims d, const float* m, Interp interp,
                bool has_fill, const float* fill, int n_fill, AffineScratch& s);
inline void affine_cpu(std::uint8_t* out, const std::uint8_t* in, Dims d, const float* m,
                       Interp interp, bool has_fill, const float* fill, int n_fill) {
  AffineScratch s;
  affine_cpu(out, in, d, m, interp, has_fill, fill, n_fill, s);
}
// A colour op of trivial_augment_wide at signed magnitude (identity and geometric ops excluded).
void ta_color_cpu(std::uint8_t* out, const std::uint8_t* in, Dims d, TaOp t, float magnitude);
// u8 HWC -> f32 CHW, or bf16 CHW (std::uint16_t bits, each value rounded to nearest even); flip:
// read the input mirrored left-right (an hflip folded in).
void normalize_cpu(float* out, const std::uint8_t* in, Dims d, const float* mean,
                   const float* stdev, int n_stats, bool flip = false);
void normalize_cpu(std::uint16_t* out, const std::uint8_t* in, Dims d, const float* mean,
                   const float* stdev, int n_stats, bool flip = false);
// Erase box (top, left, h, w) of an f32 (or bf16) CHW image with op.fill values or noise. On bf16
// each value is rounded as it is stored, which equals erasing in f32 and converting afterwards.
void erase_cpu(float* img, Dims d, const OpDraw& box, const AugmentOp& op, std::uint64_t seed,
               std::uint32_t epoch, std::uint64_t sample, std::uint32_t op_index);
void erase_cpu(std::uint16_t* img, Dims d, const OpDraw& box, const AugmentOp& op,
               std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
               std::uint32_t op_index);
// random_erasing's N(0, 1) noise of elements 0..n-1 of a sample's erased box, each equal to
// erase_noise(seed, epoch, sample, op, e) (ops/random_erasing.hpp), four Philox blocks at a time.
void erase_noise_cpu(float* out, std::uint32_t n, std::uint64_t seed, std::uint32_t epoch,
                     std::uint64_t sample, std::uint32_t op);
// 1 -> 3 channels by repetition (c == 3 copies).
void to_rgb_cpu(std::uint8_t* out, const std::uint8_t* in, Dims d);

// Runs one drawn op on u8 HWC input (not normalize / random_erasing).
void apply_u8_op_cpu(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims out_d,
                     const std::uint8_t* in, Dims in_d, Scratch& s);

// Where a chain's output goes: the one pointer of the plan's type is used, the others may be null.
struct ChainOut {
  std::uint8_t* u8 = nullptr;     // u8 HWC
  float* f32 = nullptr;           // f32 CHW
  std::uint16_t* bf16 = nullptr;  // bf16 CHW
};
// Runs the whole chain for one sample, writing plan_output(ops, in_d) dims of the plan's type.
Plan apply_ops_cpu(const std::vector<AugmentOp>& ops, const std::uint8_t* in, Dims in_d,
                   ChainOut out, std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
                   Scratch& s);
inline Plan apply_ops_cpu(const std::vector<AugmentOp>& ops, const std::uint8_t* in, Dims in_d,
                          std::uint8_t* out_u8, float* out_f32, std::uint64_t seed,
                          std::uint32_t epoch, std::uint64_t sample, Scratch& s) {
  return apply_ops_cpu(ops, in, in_d, ChainOut{out_u8, out_f32, nullptr}, seed, epoch, sample, s);
}

}  // namespace ft::aug

// Planning (output dims, chain checks), the draw dispatch (each op's draw is in its file under
// ops/) and the draw helpers several ops share: torchvision's get_params logic (10-try
// area/log-ratio sampling, Python's round-half-even, int() truncation) with Philox; draw order in
// ops.hpp.
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/augment/geometry.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"
#include "kernels/random/philox.hpp"

namespace ft::aug {

const char* op_name(OpKind k) { return op_def(k).name; }

const char* ta_op_name(TaOp t) {
  static const char* names[kNumTaOps] = {
      "Identity", "ShearX",   "ShearY",    "TranslateX", "TranslateY", "Rotate",       "Brightness",
      "Color",    "Contrast", "Sharpness", "Posterize",  "Solarize",   "AutoContrast", "Equalize"};
  return names[static_cast<int>(t)];
}

namespace {

std::string dims_str(Dims d) {
  return std::to_string(d.h) + "x" + std::to_string(d.w) + "x" + std::to_string(d.c);
}

// Python's int(round(x)) on a double: ties to even.
int py_round(double x) { return static_cast<int>(std::nearbyint(x)); }

// torch.linspace(start, end, steps) element i, in float32 as PyTorch computes it.
float linspace_f32(float start, float end, int steps, int i) {
  if (steps == 1) return start;
  const float step = (end - start) / static_cast<float>(steps - 1);
  return i < steps / 2 ? start + step * static_cast<float>(i)
                       : end - step * static_cast<float>(steps - i - 1);
}

// torch.linspace(0, 0.99 | 32, 31) exactly as PyTorch 1.13's vectorised CPU kernel produces them
// (its chunked arithmetic differs from the scalar formula in the last bit for a few bins; the
// other ranges agree with linspace_f32). Values printed by torch.linspace(...).tolist().
constexpr float kLin099[31] = {
    0x0.0p+0f,      0x1.0e5604p-5f, 0x1.0e5604p-4f, 0x1.958106p-4f, 0x1.0e5604p-3f, 0x1.51eb84p-3f,
    0x1.958106p-3f, 0x1.d91688p-3f, 0x1.0e5604p-2f, 0x1.3020c4p-2f, 0x1.51eb84p-2f, 0x1.73b646p-2f,
    0x1.958106p-2f, 0x1.b74bc6p-2f, 0x1.d91688p-2f, 0x1.fae148p-2f, 0x1.0e5604p-1f, 0x1.1f3b64p-1f,
    0x1.3020c4p-1f, 0x1.410626p-1f, 0x1.51eb86p-1f, 0x1.62d0e6p-1f, 0x1.73b646p-1f, 0x1.849ba6p-1f,
    0x1.958106p-1f, 0x1.a66666p-1f, 0x1.b74bc8p-1f, 0x1.c83128p-1f, 0x1.d91688p-1f, 0x1.e9fbe8p-1f,
    0x1.fae148p-1f,
};
constexpr float kLin32[31] = {
    0x0.0p+0f,      0x1.111112p+0f, 0x1.111112p+1f, 0x1.99999cp+1f, 0x1.111112p+2f, 0x1.555556p+2f,
    0x1.99999cp+2f, 0x1.dddde0p+2f, 0x1.111112p+3f, 0x1.333334p+3f, 0x1.555556p+3f, 0x1.777778p+3f,
    0x1.99999cp+3f, 0x1.bbbbbcp+3f, 0x1.dddde0p+3f, 0x1.000000p+4f, 0x1.111110p+4f, 0x1.222222p+4f,
    0x1.333332p+4f, 0x1.444444p+4f, 0x1.555554p+4f, 0x1.666666p+4f, 0x1.777778p+4f, 0x1.888888p+4f,
    0x1.99999ap+4f, 0x1.aaaaaap+4f, 0x1.bbbbbcp+4f, 0x1.ccccccp+4f, 0x1.dddddep+4f, 0x1.eeeeeep+4f,
    0x1.000000p+5f,
};

float ta_linspace(float end, int num_bins, int bin) {
  if (num_bins == 31 && end == 0.99f) return kLin099[bin];
  if (num_bins == 31 && end == 32.0f) return kLin32[bin];
  return linspace_f32(0.0f, end, num_bins, bin);
}

}  // namespace

Dims op_output_dims(const AugmentOp& op, Dims in) { return op_def(op.kind).output(op, in); }

void validate_ops(const std::vector<AugmentOp>& ops) {
  bool normalized = false;
  for (std::size_t k = 0; k < ops.size(); ++k) {
    const auto& op = ops[k];
    const std::string at = "op " + std::to_string(k) + " (" + op_name(op.kind) + ")";
    if (normalized && op.kind != OpKind::random_erasing)
      throw std::invalid_argument(at + " comes after normalize; only random_erasing may follow it");
    if (!normalized && op.kind == OpKind::random_erasing)
      throw std::invalid_argument(at +
                                  " works on the normalized f32 image: put normalize before it");
    if (op.kind == OpKind::normalize) normalized = true;
  }
}

Plan plan_output(const std::vector<AugmentOp>& ops, Dims in) {
  if (in.h <= 0 || in.w <= 0 || (in.c != 1 && in.c != 3))
    throw std::invalid_argument("augment: input image " + dims_str(in) +
                                " is not a non-empty 1- or 3-channel image");
  Plan p;
  p.dims = in;
  p.max_u8 = in.numel();
  for (std::size_t k = 0; k < ops.size(); ++k) {
    const auto& op = ops[k];
    if (op.kind == OpKind::normalize) {
      if (op.n_stats != 1 && op.n_stats != p.dims.c)
        throw std::invalid_argument("op " + std::to_string(k) + " (normalize) has " +
                                    std::to_string(op.n_stats) + " means/stds for a " +
                                    std::to_string(p.dims.c) + "-channel image");
      p.f32 = true;
      p.bf16 = op.bf16;
      continue;
    }
    if (p.f32) continue;  // random_erasing keeps the dims
    p.dims = op_output_dims(op, p.dims);
    if (p.dims.numel() > p.max_u8) p.max_u8 = p.dims.numel();
  }
  return p;
}

void inverse_affine_matrix(float* m, double cx, double cy, double angle, double tx, double ty,
                           double scale, double shear_x, double shear_y) {
  const double kRad = M_PI / 180.0;
  const double rot = angle * kRad, sx = shear_x * kRad, sy = shear_y * kRad;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  double mm[6] = {d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0};
  mm[2] += mm[0] * (-cx - tx) + mm[1] * (-cy - ty);
  mm[5] += mm[3] * (-cx - tx) + mm[4] * (-cy - ty);
  mm[2] += cx;
  mm[5] += cy;
  for (int i = 0; i < 6; ++i) m[i] = static_cast<float>(mm[i]);
}

bool ta_signed(TaOp t) {
  switch (t) {
    case TaOp::shear_x:
    case TaOp::shear_y:
    case TaOp::translate_x:
    case TaOp::translate_y:
    case TaOp::rotate:
    case TaOp::brightness:
    case TaOp::color:
    case TaOp::contrast:
    case TaOp::sharpness:
      return true;
    default:
      return false;
  }
}

float ta_magnitude(TaOp t, int bin, int num_bins) {
  switch (t) {
    case TaOp::shear_x:
    case TaOp::shear_y:
    case TaOp::brightness:
    case TaOp::color:
    case TaOp::contrast:
    case TaOp::sharpness:
      return ta_linspace(0.99f, num_bins, bin);
    case TaOp::translate_x:
    case TaOp::translate_y:
      return ta_linspace(32.0f, num_bins, bin);
    case TaOp::rotate:
      return linspace_f32(0.0f, 135.0f, num_bins, bin);
    case TaOp::posterize: {
      const float div = static_cast<float>((num_bins - 1) / 6.0);
      return static_cast<float>(8 -
                                static_cast<int>(std::nearbyint(static_cast<float>(bin) / div)));
    }
    case TaOp::solarize:
      return linspace_f32(255.0f, 0.0f, num_bins, bin);
    default:
      return 0.0f;
  }
}

void ta_geometry(OpDraw& d, Dims in) {
  const double mag = d.magnitude;
  switch (d.ta) {
    case TaOp::shear_x:  // F.affine(shear=[degrees(atan(m)), 0], center=[0, 0])
      inverse_affine_matrix(d.matrix, -in.w * 0.5, -in.h * 0.5, 0.0, 0.0, 0.0, 1.0,
                            std::atan(mag) * 180.0 / M_PI, 0.0);
      break;
    case TaOp::shear_y:
      inverse_affine_matrix(d.matrix, -in.w * 0.5, -in.h * 0.5, 0.0, 0.0, 0.0, 1.0, 0.0,
                            std::atan(mag) * 180.0 / M_PI);
      break;
    case TaOp::translate_x:  // F.affine(translate=[int(m), 0])
      inverse_affine_matrix(d.matrix, 0.0, 0.0, 0.0, static_cast<int>(mag), 0.0, 1.0, 0.0, 0.0);
      break;
    case TaOp::translate_y:
      inverse_affine_matrix(d.matrix, 0.0, 0.0, 0.0, 0.0, static_cast<int>(mag), 1.0, 0.0, 0.0);
      break;
    case TaOp::rotate:  // F.rotate negates the angle before building the matrix
      inverse_affine_matrix(d.matrix, 0.0, 0.0, -mag, 0.0, 0.0, 1.0, 0.0, 0.0);
      break;
    default:
      break;
  }
}

// random_resized_crop's crop and random_erasing's box: 10 tries of an area and a log-uniform
// ratio; then RandomResizedCrop falls back to a central crop, RandomErasing to no box.
void draw_area_box(const AugmentOp& op, Dims in, rng::Philox& r, OpDraw& d, bool erasing) {
  if (erasing && !r.bernoulli(op.p)) {
    d.apply = false;
    return;
  }
  const double area = static_cast<double>(in.h) * in.w;
  const float lr0 = std::log(op.ratio_lo), lr1 = std::log(op.ratio_hi);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * static_cast<double>(r.uniform(op.scale_lo, op.scale_hi));
    const double aspect = static_cast<double>(std::exp(r.uniform(lr0, lr1)));
    // RandomResizedCrop: w from area * aspect; RandomErasing: h from area * aspect.
    const int a = py_round(std::sqrt(target * aspect)), b = py_round(std::sqrt(target / aspect));
    const int w = erasing ? b : a, h = erasing ? a : b;
    const bool fits = erasing ? (h < in.h && w < in.w) : (0 < w && w <= in.w && 0 < h && h <= in.h);
    if (!fits) continue;
    d.top = static_cast<int>(r.below(static_cast<std::uint32_t>(in.h - h + 1)));
    d.left = static_cast<int>(r.below(static_cast<std::uint32_t>(in.w - w + 1)));
    d.h = h;
    d.w = w;
    return;
  }
  if (erasing) {  // torchvision returns the image unchanged
    d.apply = false;
    return;
  }
  // Fallback to a central crop with the ratio clamped into [ratio_lo, ratio_hi].
  const double in_ratio = static_cast<double>(in.w) / in.h;
  int w = in.w, h = in.h;
  if (in_ratio < op.ratio_lo)
    h = py_round(w / static_cast<double>(op.ratio_lo));
  else if (in_ratio > op.ratio_hi)
    w = py_round(h * static_cast<double>(op.ratio_hi));
  d.top = (in.h - h) / 2;
  d.left = (in.w - w) / 2;
  d.h = h;
  d.w = w;
}

OpDraw draw_op(const AugmentOp& op, Dims in, std::uint64_t seed, std::uint32_t epoch,
               std::uint64_t sample, std::uint32_t op_index) {
  rng::Philox r(seed, epoch, sample, op_index);
  OpDraw d;
  d.interp = op.interp;
  d.has_fill = op.has_fill;
  d.h = in.h;
  d.w = in.w;
  op_def(op.kind).draw(op, in, r, d);
  return d;
}

}  // namespace ft::aug

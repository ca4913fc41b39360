// CPU loops over one sample that several ops or the chain use: crop/pad/flip, normalize, erasing,
// and the chain driver apply_ops_cpu (resize and the affine warp are in resize_cpu.cpp and
// affine_cpu.cpp; loops of one op alone are in its file, ops/<name>.cpp). Per-pixel math comes from
// the ops' functor headers (ops/<name>.hpp) and the shared pixel.hpp / affine.hpp, as the CUDA
// kernels' does. Intermediate images ping-pong between the two scratch buffers; nothing is
// allocated once the scratch has grown to the largest image seen.
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "kernels/augment/cpu_isa.hpp"
#include "kernels/augment/geometry.hpp"
#include "kernels/augment/normalize_rows.hpp"
#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/normalize.hpp"
#include "kernels/augment/ops/op_def.hpp"
#include "kernels/augment/ops/random_erasing.hpp"
#include "kernels/augment/pixel.hpp"

namespace ft::aug {

void crop_pad_cpu(std::uint8_t* out, Dims od, const std::uint8_t* in, Dims id, int top, int left,
                  PadMode mode, const float* fill, int n_fill, bool flip) {
  const int c = id.c;
  if (window_inside(top, left, od.h, od.w, id)) {  // no padding: row copies, mirrored or not
    const std::size_t row = static_cast<std::size_t>(od.w) * c;
    for (int y = 0; y < od.h; ++y) {
      const std::uint8_t* src = in + hwc_offset(id, top + y, left);
      std::uint8_t* dst = out + y * row;
      if (!flip) {
        std::memcpy(dst, src, row);
        continue;
      }
      for (int x = 0; x < od.w; ++x)
        for (int ch = 0; ch < c; ++ch) dst[x * c + ch] = src[(od.w - 1 - x) * c + ch];
    }
    return;
  }
  std::uint8_t fill_u8[kMaxChannels];
  for (int ch = 0; ch < c; ++ch) fill_u8[ch] = fill ? round_to_u8(fill[n_fill == 1 ? 0 : ch]) : 0;
  for (int y = 0; y < od.h; ++y) {
    const int sy = window_row(top, y, id.h, mode);
    for (int x = 0; x < od.w; ++x) {
      const int sx = window_col(left, x, od.w, id.w, mode, flip);
      std::uint8_t* px = out + hwc_offset(od, y, x);
      if (sy < 0 || sx < 0) {
        for (int ch = 0; ch < c; ++ch) px[ch] = fill_u8[ch];
      } else {
        const std::uint8_t* s = in + hwc_offset(id, sy, sx);
        for (int ch = 0; ch < c; ++ch) px[ch] = s[ch];
      }
    }
  }
}

namespace {

// A u8 input has 256 values, so each channel's outputs come from a table of normalize_value (the
// CUDA kernel's function; for bf16, rounded as stored): a lookup per element instead of the
// arithmetic, with identical results. One pass over the pixels (x0 onwards: the AVX2 form did the
// rest) writes every channel's plane; flip reads each row mirrored (an hflip folded in).
template <class T, int C>
void normalize_rows(T* out, const std::uint8_t* in, Dims d, const T (*lut)[256], bool flip,
                    int x0) {
  const int c = C > 0 ? C : d.c;
  const std::size_t plane = static_cast<std::size_t>(d.h) * d.w;
  for (int y = 0; y < d.h; ++y) {
    const std::uint8_t* row = in + static_cast<std::size_t>(y) * d.w * c;
    T* o = out + static_cast<std::size_t>(y) * d.w;
    for (int x = x0; x < d.w; ++x) {
      const std::uint8_t* p = row + static_cast<std::size_t>(flip ? d.w - 1 - x : x) * c;
      for (int ch = 0; ch < c; ++ch) o[ch * plane + x] = lut[ch][p[ch]];
    }
  }
}

template <class T>
void normalize_into(T* out, const std::uint8_t* in, Dims d, const float* mean, const float* stdev,
                    int n_stats, bool flip) {
  float m[kMaxChannels], sd[kMaxChannels];
  for (int ch = 0; ch < d.c; ++ch) {
    m[ch] = mean[n_stats == 1 ? 0 : ch];
    sd[ch] = stdev[n_stats == 1 ? 0 : ch];
  }
  int x0 = 0;  // output pixels [0, x0) of each row done by the AVX2 form
  if constexpr (std::is_same_v<T, float>)
    if (cpu_isa() >= CpuIsa::avx2) x0 = normalize_f32_avx2(out, in, d.h, d.w, d.c, m, sd, flip);
  if (x0 == d.w) return;
  T lut[kMaxChannels][256];
  for (int ch = 0; ch < d.c; ++ch)
    for (int v = 0; v < 256; ++v)
      store_value(&lut[ch][v], normalize_value(static_cast<std::uint8_t>(v), m[ch], sd[ch]));
  if (d.c == 3)
    normalize_rows<T, 3>(out, in, d, lut, flip, x0);
  else if (d.c == 1)
    normalize_rows<T, 1>(out, in, d, lut, flip, x0);
  else
    normalize_rows<T, 0>(out, in, d, lut, flip, x0);
}

// Noise element e indexes the (c, h, w) box as torch fills its value tensor: erase_noise_cpu
// computes them all in that order into `noise`, and the box's rows take them in turn.
template <class T>
void erase_into(T* img, Dims d, const OpDraw& box, const AugmentOp& op, std::uint64_t seed,
                std::uint32_t epoch, std::uint64_t sample, std::uint32_t op_index,
                std::vector<float>& noise) {
  if (!box.apply) return;
  const auto n = static_cast<std::uint32_t>(d.c * box.h * box.w);
  float* v = nullptr;
  if (op.random_value) {
    v = grow(noise, n);
    erase_noise_cpu(v, n, seed, epoch, sample, op_index);
  }
  for (int ch = 0; ch < d.c; ++ch)
    for (int y = 0; y < box.h; ++y) {
      T* row = img + chw_offset(d, ch, box.top + y, box.left);
      const float* src = v ? v + box_element(box.h, box.w, ch, y, 0) : nullptr;
      for (int x = 0; x < box.w; ++x) store_value(row + x, src ? src[x] : op.fill_for(ch));
    }
}

// normalize, then the random_erasing ops after it (ops[k] is the normalize op).
template <class T>
void normalize_and_erase(T* out, const std::vector<AugmentOp>& ops, std::size_t k,
                         const std::uint8_t* in, Dims d, bool flip, std::uint64_t seed,
                         std::uint32_t epoch, std::uint64_t sample, std::vector<float>& noise) {
  const AugmentOp& norm = ops[k];
  normalize_into(out, in, d, norm.mean, norm.std, norm.n_stats, flip);
  for (++k; k < ops.size(); ++k) {
    const OpDraw box = draw_op(ops[k], d, seed, epoch, sample, static_cast<std::uint32_t>(k));
    erase_into(out, d, box, ops[k], seed, epoch, sample, static_cast<std::uint32_t>(k), noise);
  }
}

// Ops whose output, mirrored, equals their output on the mirrored input, bit for bit (so a drawn
// hflip can wait past them): to_rgb and trivial_augment_wide's per-pixel and per-image-statistics
// colour ops. Not sharpness: its blur sums the row's three taps in a fixed order, which mirroring
// reverses.
bool commutes_with_flip(const AugmentOp& op, const OpDraw& d) {
  if (op.kind == OpKind::to_rgb) return true;
  if (op.kind != OpKind::trivial_augment_wide) return false;
  switch (d.ta) {
    case TaOp::brightness:
    case TaOp::color:
    case TaOp::contrast:
    case TaOp::posterize:
    case TaOp::solarize:
    case TaOp::auto_contrast:
    case TaOp::equalize:
      return true;
    default:
      return false;
  }
}

}  // namespace

void normalize_cpu(float* out, const std::uint8_t* in, Dims d, const float* mean,
                   const float* stdev, int n_stats, bool flip) {
  normalize_into(out, in, d, mean, stdev, n_stats, flip);
}
void normalize_cpu(std::uint16_t* out, const std::uint8_t* in, Dims d, const float* mean,
                   const float* stdev, int n_stats, bool flip) {
  normalize_into(out, in, d, mean, stdev, n_stats, flip);
}

void erase_cpu(float* img, Dims d, const OpDraw& box, const AugmentOp& op, std::uint64_t seed,
               std::uint32_t epoch, std::uint64_t sample, std::uint32_t op_index) {
  std::vector<float> noise;
  erase_into(img, d, box, op, seed, epoch, sample, op_index, noise);
}
void erase_cpu(std::uint16_t* img, Dims d, const OpDraw& box, const AugmentOp& op,
               std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
               std::uint32_t op_index) {
  std::vector<float> noise;
  erase_into(img, d, box, op, seed, epoch, sample, op_index, noise);
}

void apply_u8_op_cpu(const AugmentOp& op, const OpDraw& d, std::uint8_t* out, Dims od,
                     const std::uint8_t* in, Dims id, Scratch& s) {
  const OpDef& def = op_def(op.kind);
  if (!def.apply_cpu)
    throw std::invalid_argument(std::string("apply_u8_op_cpu: ") + def.name + " is not a u8 op");
  def.apply_cpu(op, d, out, od, in, id, s);
}

Plan apply_ops_cpu(const std::vector<AugmentOp>& ops, const std::uint8_t* in, Dims in_d,
                   ChainOut out, std::uint64_t seed, std::uint32_t epoch, std::uint64_t sample,
                   Scratch& s) {
  const Plan plan = plan_output(ops, in_d);
  std::uint8_t* bufs[2] = {grow(s.a, plan.max_u8), grow(s.b, plan.max_u8)};
  const std::uint8_t* cur = in;
  Dims cd = in_d;
  int next = 0;
  // A drawn hflip is deferred: ops that commute with it run first, and normalize (or the final
  // copy) reads the image mirrored. Any other op gets the mirrored image first.
  bool flip = false;
  std::size_t k = 0;
  for (; k < ops.size() && ops[k].kind != OpKind::normalize; ++k) {
    const OpDraw d = draw_op(ops[k], cd, seed, epoch, sample, static_cast<std::uint32_t>(k));
    const Dims od = op_output_dims(ops[k], cd);
    // Ops that leave the image unchanged this time (p draw failed, Identity) cost nothing.
    if (!d.apply && od == cd) continue;
    if (ops[k].kind == OpKind::hflip) {
      flip = !flip;
      continue;
    }
    if (flip && !commutes_with_flip(ops[k], d)) {
      crop_pad_cpu(bufs[next], cd, cur, cd, 0, 0, PadMode::constant, nullptr, 0, true);
      cur = bufs[next];
      next ^= 1;
      flip = false;
    }
    apply_u8_op_cpu(ops[k], d, bufs[next], od, cur, cd, s);
    cur = bufs[next];
    cd = od;
    next ^= 1;
  }
  if (!plan.f32) {
    if (flip)
      crop_pad_cpu(out.u8, cd, cur, cd, 0, 0, PadMode::constant, nullptr, 0, true);
    else if (cur != out.u8)
      std::memcpy(out.u8, cur, cd.numel());
  } else if (plan.bf16) {
    normalize_and_erase(out.bf16, ops, k, cur, cd, flip, seed, epoch, sample, s.noise);
  } else {
    normalize_and_erase(out.f32, ops, k, cur, cd, flip, seed, epoch, sample, s.noise);
  }
  return plan;
}

}  // namespace ft::aug

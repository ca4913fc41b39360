#include "kernels/nn/cpu/conv_weight_grad.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/nn/cpu/bf16.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/geometry.hpp"

namespace ft::nn::cpu {

using dnnl::memory;
using tag = memory::format_tag;

std::size_t im2col_bytes(const Conv2dSpec& spec, const Shape& in, int out_h, int out_w,
                         std::size_t bytes_per_value) {
  return static_cast<std::size_t>(in.n) * static_cast<std::size_t>(out_h) *
         static_cast<std::size_t>(out_w) * static_cast<std::size_t>(spec.kernel) *
         static_cast<std::size_t>(spec.kernel) * static_cast<std::size_t>(spec.in_channels) *
         bytes_per_value;
}

namespace {
// The outputs o in [lo, hi) whose input o*s - pad + tap*d lies in [0, size).
void tap_range(int tap, int s, int pad, int d, int size, int outs, int& lo, int& hi) {
  lo = 0;
  while (lo < outs && lo * s - pad + tap * d < 0) ++lo;
  hi = outs;
  while (hi > lo && (hi - 1) * s - pad + tap * d >= size) --hi;
}
}  // namespace

double im2col_density(const Conv2dSpec& spec, const Shape& in, int out_h, int out_w) {
  const int pad = conv_padding(spec).begin;
  long inside = 0;
  for (int kh = 0; kh < spec.kernel; ++kh)
    for (int kw = 0; kw < spec.kernel; ++kw) {
      int y0, y1, x0, x1;
      tap_range(kh, spec.stride, pad, spec.dilation, in.h, out_h, y0, y1);
      tap_range(kw, spec.stride, pad, spec.dilation, in.w, out_w, x0, x1);
      inside += long{y1 - y0} * (x1 - x0);
    }
  return static_cast<double>(inside) /
         (static_cast<double>(spec.kernel) * spec.kernel * out_h * out_w);
}

void GemmWeightGrad::build(const Conv2dSpec& spec, const Shape& in, const Shape& out,
                           memory::data_type type, const memory::desc& src_md,
                           const memory::desc& dst_md, bool per_tap) {
  if (spec.groups != 1) throw std::invalid_argument("conv2d: im2col weight grad needs groups 1");
  spec_ = spec;
  in_ = in;
  out_ = out;
  per_tap_ = per_tap;
  value_bytes_ = type == memory::data_type::bf16 ? 2 : 4;
  const memory::dim m = memory::dim{out.n} * out.h * out.w, c = in.c, oc = out.c, k = spec.kernel;
  src_ = MemoryPair(src_md, memory::desc({in.n, c, in.h, in.w}, type, tag::nhwc));
  // (N, OC, OH, OW) in NHWC is the (M, OC) matrix the product reads.
  ddst_ = MemoryPair(dst_md, memory::desc({out.n, oc, out.h, out.w}, type, tag::nhwc));
  const memory::desc w_md({oc, c, k, k}, memory::data_type::f32, tag::ohwi);
  dw_ = MemoryPair(plain_md({oc, c, k, k}, tag::oihw), w_md, /*accumulate=*/true);
  if (!dw_.reordered())  // OHWI is OIHW only for 1x1 kernels, which never take this path
    throw std::invalid_argument("conv2d: im2col weight grad needs a kernel > 1");
  bias_sum_.assign(spec.bias ? static_cast<std::size_t>(oc) : 0, 0.f);
  if (per_tap_) {
    build_taps(type);
    return;
  }
  const memory::desc cols_md({m, c, k, k}, type, tag::nhwc);  // row m: (kh, kw, c)
  const memory::desc ddst_md({m, oc}, type, tag::nc);
  // The forward descriptor is only the hint oneDNN's backward descriptors require. dL/dbias is
  // bias_grad()'s, as on the per-tap path.
  dnnl::inner_product_forward::primitive_desc hint(
      dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, cols_md,
                                        memory::desc({oc, c, k, k}, type, tag::any),
                                        memory::desc({m, oc}, type, tag::any)),
      scratchpad_attr(), engine());
  dnnl::inner_product_backward_weights::primitive_desc pd(
      dnnl::inner_product_backward_weights::desc(cols_md, w_md, ddst_md), scratchpad_attr(),
      engine(), hint);
  ip_ = dnnl::inner_product_backward_weights(pd);
  cols_ = memory(cols_md, engine(), DNNL_MEMORY_NONE);
  scratch_bytes_ = cols_md.get_size();
}

void GemmWeightGrad::build_taps(memory::data_type type) {
  const int k = spec_.kernel, s = spec_.stride, d = spec_.dilation;
  const int pad = conv_padding(spec_).begin;
  const memory::dim c = in_.c, oc = out_.c;
  taps_.clear();
  scratch_bytes_ = 0;
  for (int kh = 0; kh < k; ++kh)
    for (int kw = 0; kw < k; ++kw) {
      Tap t;
      t.kh = kh;
      t.kw = kw;
      tap_range(kh, s, pad, d, in_.h, out_.h, t.y0, t.y1);
      tap_range(kw, s, pad, d, in_.w, out_.w, t.x0, t.x1);
      t.rows = memory::dim{out_.n} * (t.y1 - t.y0) * (t.x1 - t.x0);
      if (t.rows > 0) {
        // dW block (OC x C, rows K*K*C apart in OHWI) = dY_rows^T (OC x rows) . src_rows.
        const memory::desc a_md({oc, t.rows}, type, memory::dims{1, oc});
        const memory::desc b_md({t.rows, c}, type, memory::dims{c, 1});
        const memory::desc w_md({oc, c}, memory::data_type::f32, memory::dims{k * k * c, 1});
        t.mm = dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, w_md),
                                                         scratchpad_attr(), engine()));
        t.a = memory(a_md, engine(), DNNL_MEMORY_NONE);
        t.b = memory(b_md, engine(), DNNL_MEMORY_NONE);
        t.dw = memory(w_md, engine(), DNNL_MEMORY_NONE);
        scratch_bytes_ =
            std::max(scratch_bytes_, static_cast<std::size_t>(t.rows) *
                                         static_cast<std::size_t>(c + oc) * value_bytes_);
      }
      taps_.push_back(std::move(t));
    }
}

// a: the tap's rows of dL/dy (OC values each), b: the inputs they read (C values each).
void GemmWeightGrad::gather(const Tap& t, unsigned char* a, unsigned char* b) const {
  const auto* src = static_cast<const unsigned char*>(src_.prim().get_data_handle());
  const auto* dy = static_cast<const unsigned char*>(ddst_.prim().get_data_handle());
  const std::size_t cb = static_cast<std::size_t>(in_.c) * value_bytes_,
                    ob = static_cast<std::size_t>(out_.c) * value_bytes_;
  const int s = spec_.stride, d = spec_.dilation, pad = conv_padding(spec_).begin;
  const int h = t.y1 - t.y0, w = t.x1 - t.x0;
#pragma omp parallel for schedule(static) if (t.rows * (in_.c + out_.c) > kParallelMin)
  for (std::int64_t r = 0; r < t.rows; ++r) {
    const std::int64_t n = r / (h * w);
    const int y = t.y0 + static_cast<int>(r / w % h), x = t.x0 + static_cast<int>(r % w);
    const std::size_t o = (static_cast<std::size_t>(n) * out_.h + y) * out_.w + x;
    const std::size_t i = (static_cast<std::size_t>(n) * in_.h + (y * s - pad + t.kh * d)) * in_.w +
                          (x * s - pad + t.kw * d);
    std::memcpy(a + static_cast<std::size_t>(r) * ob, dy + o * ob, ob);
    std::memcpy(b + static_cast<std::size_t>(r) * cb, src + i * cb, cb);
  }
}

void GemmWeightGrad::run_taps(WeightBias& p, unsigned char* scratch) {
  auto* dw = static_cast<float*>(dw_.out(p.weight.grad.data()).get_data_handle());
  const std::size_t c = in_.c, kk = static_cast<std::size_t>(spec_.kernel) * spec_.kernel;
  for (Tap& t : taps_) {
    float* block = dw + (static_cast<std::size_t>(t.kh) * spec_.kernel + t.kw) * c;
    if (t.rows == 0) {  // the tap reads only padding
      for (int o = 0; o < out_.c; ++o) std::fill_n(block + o * kk * c, c, 0.f);
      continue;
    }
    unsigned char* a = scratch;
    unsigned char* b = a + static_cast<std::size_t>(t.rows) * out_.c * value_bytes_;
    gather(t, a, b);
    t.a.set_data_handle(a);
    t.b.set_data_handle(b);
    t.dw.set_data_handle(block);
    execute(t.mm, {{DNNL_ARG_SRC, t.a}, {DNNL_ARG_WEIGHTS, t.b}, {DNNL_ARG_DST, t.dw}});
    stream().wait();
  }
  dw_.store();
  stream().wait();
}

// dL/dbias += the sum of dL/dy over every output pixel.
void GemmWeightGrad::bias_grad(WeightBias& p) {
  const auto* dy = ddst_.prim().get_data_handle();
  const std::size_t m = static_cast<std::size_t>(out_.n) * out_.h * out_.w, oc = out_.c;
  std::vector<float>& sum = bias_sum_;
  std::fill(sum.begin(), sum.end(), 0.f);
  if (value_bytes_ == 2) {
    const Bf16* v = as_bf16(static_cast<const float*>(dy));
    for (std::size_t r = 0; r < m; ++r)
      for (std::size_t o = 0; o < oc; ++o) sum[o] += bf16_to_f32(v[r * oc + o].bits);
  } else {
    const auto* v = static_cast<const float*>(dy);
    for (std::size_t r = 0; r < m; ++r)
      for (std::size_t o = 0; o < oc; ++o) sum[o] += v[r * oc + o];
  }
  for (std::size_t o = 0; o < oc; ++o) p.bias.grad[o] += sum[o];
}

// cols[m = (n, oh, ow)][kh][kw][:] = src[n][oh*s - pad + kh*d][ow*s - pad + kw*d][:], or zeros.
void GemmWeightGrad::im2col(unsigned char* cols) const {
  const auto* src = static_cast<const unsigned char*>(src_.prim().get_data_handle());
  const std::size_t pixel = static_cast<std::size_t>(in_.c) * value_bytes_;
  const int k = spec_.kernel, s = spec_.stride, d = spec_.dilation;
  const int pad = conv_padding(spec_).begin, oh = out_.h, ow = out_.w, ih = in_.h, iw = in_.w;
  const std::int64_t rows = std::int64_t{out_.n} * oh * ow;
  const std::size_t row_bytes = pixel * static_cast<std::size_t>(k * k);
#pragma omp parallel for schedule(static) if (rows * k * k * in_.c > kParallelMin)
  for (std::int64_t m = 0; m < rows; ++m) {
    const std::int64_t n = m / (oh * ow);
    const int y = static_cast<int>(m / ow % oh), x = static_cast<int>(m % ow);
    unsigned char* out = cols + static_cast<std::size_t>(m) * row_bytes;
    for (int kh = 0; kh < k; ++kh) {
      const int sy = y * s - pad + kh * d;
      for (int kw = 0; kw < k; ++kw, out += pixel) {
        const int sx = x * s - pad + kw * d;
        if (sy < 0 || sy >= ih || sx < 0 || sx >= iw) {
          std::memset(out, 0, pixel);
          continue;
        }
        const std::size_t at = (static_cast<std::size_t>(n) * ih * iw +
                                static_cast<std::size_t>(sy) * iw + static_cast<std::size_t>(sx)) *
                               pixel;
        std::memcpy(out, src + at, pixel);
      }
    }
  }
}

void GemmWeightGrad::accumulate(const float* x, const float* dy, WeightBias& p) {
  // The patches (or a tap's rows) live only during this call: one buffer per thread serves every
  // layer (a layer runs on one thread at a time, as in execute()), so a model holds one, not one
  // a layer.
  thread_local std::vector<unsigned char> scratch;
  if (scratch.size() < scratch_bytes_) scratch.resize(scratch_bytes_);
  src_.in(x);
  ddst_.in(dy);
  if (per_tap_) {
    run_taps(p, scratch.data());
  } else {
    im2col(scratch.data());
    cols_.set_data_handle(scratch.data());
    execute(ip_, {{DNNL_ARG_SRC, cols_},
                  {DNNL_ARG_DIFF_DST, ddst_.prim()},
                  {DNNL_ARG_DIFF_WEIGHTS, dw_.out(p.weight.grad.data())}});
    dw_.store();  // adds (see build)
    stream().wait();
  }
  if (spec_.bias) bias_grad(p);
}

}  // namespace ft::nn::cpu

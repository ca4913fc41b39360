#include "kernels/nn/cpu/conv_weight_grad.hpp"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

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

void Im2colWeightGrad::build(const Conv2dSpec& spec, const Shape& in, const Shape& out,
                             memory::data_type type, const memory::desc& src_md,
                             const memory::desc& dst_md) {
  if (spec.groups != 1) throw std::invalid_argument("conv2d: im2col weight grad needs groups 1");
  spec_ = spec;
  in_ = in;
  out_ = out;
  value_bytes_ = type == memory::data_type::bf16 ? 2 : 4;
  const memory::dim m = memory::dim{out.n} * out.h * out.w, c = in.c, oc = out.c, k = spec.kernel;
  const memory::desc cols_md({m, c, k, k}, type, tag::nhwc);  // row m: (kh, kw, c)
  const memory::desc ddst_md({m, oc}, type, tag::nc);
  const memory::desc w_md({oc, c, k, k}, memory::data_type::f32, tag::ohwi);
  const memory::desc b_md = spec.bias ? plain_md({oc}, tag::x) : memory::desc();
  // The forward descriptor is only the hint oneDNN's backward descriptors require.
  dnnl::inner_product_forward::primitive_desc hint(
      dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_training, cols_md,
                                        memory::desc({oc, c, k, k}, type, tag::any), b_md,
                                        memory::desc({m, oc}, type, tag::any)),
      scratchpad_attr(), engine());
  dnnl::inner_product_backward_weights::primitive_desc pd(
      dnnl::inner_product_backward_weights::desc(cols_md, w_md, b_md, ddst_md), scratchpad_attr(),
      engine(), hint);
  ip_ = dnnl::inner_product_backward_weights(pd);
  src_ = MemoryPair(src_md, memory::desc({in.n, c, in.h, in.w}, type, tag::nhwc));
  // (N, OC, OH, OW) in NHWC is the (M, OC) matrix the product reads.
  ddst_ = MemoryPair(dst_md, memory::desc({out.n, oc, out.h, out.w}, type, tag::nhwc));
  dw_ = MemoryPair(plain_md({oc, c, k, k}, tag::oihw), w_md, /*accumulate=*/true);
  if (!dw_.reordered())  // OHWI is OIHW only for 1x1 kernels, which never take this path
    throw std::invalid_argument("conv2d: im2col weight grad needs a kernel > 1");
  cols_ = memory(cols_md, engine(), DNNL_MEMORY_NONE);
  if (spec.bias) db_ = memory(b_md, engine());
}

// cols[m = (n, oh, ow)][kh][kw][:] = src[n][oh*s - pad + kh*d][ow*s - pad + kw*d][:], or zeros.
void Im2colWeightGrad::im2col() {
  const auto* src = static_cast<const unsigned char*>(src_.prim().get_data_handle());
  auto* cols = static_cast<unsigned char*>(cols_.get_data_handle());
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

void Im2colWeightGrad::accumulate(const float* x, const float* dy, WeightBias& p) {
  // The patches live only during this call: one buffer per thread serves every layer (a layer runs
  // on one thread at a time, as in execute()), so a model holds one patch matrix, not one a layer.
  thread_local std::vector<unsigned char> patches;
  const std::size_t bytes = cols_.get_desc().get_size();
  if (patches.size() < bytes) patches.resize(bytes);
  cols_.set_data_handle(patches.data());
  src_.in(x);
  im2col();
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, cols_},
                                       {DNNL_ARG_DIFF_DST, ddst_.in(dy)},
                                       {DNNL_ARG_DIFF_WEIGHTS, dw_.out(p.weight.grad.data())}};
  if (spec_.bias) args.emplace(DNNL_ARG_DIFF_BIAS, db_);
  execute(ip_, args);
  dw_.store();  // adds (see build)
  stream().wait();
  if (spec_.bias) {
    const auto* db = static_cast<const float*>(db_.get_data_handle());
    for (std::size_t i = 0; i < p.bias.grad.size(); ++i) p.bias.grad[i] += db[i];
  }
}

}  // namespace ft::nn::cpu

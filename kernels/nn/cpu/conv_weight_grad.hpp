// dL/dweight of a Conv2d as one matrix product: im2col. oneDNN 2.6's direct backward-weights
// kernels (jit:avx512_core in f32, jit_bf16 without AMX) run far below the machine's matmul rate
// on 3x3 convolutions with few output pixels: mini_resnet's 1024-channel 2x2 layer took 265 ms of
// a 1,060 ms bf16 step (36 GFLOP/s) and 826 ms in f32. There the patches are small enough to
// write out: with M = N*OH*OW output pixels and a patch of KH*KW*C inputs each,
//   dW (OC x KH*KW*C) = dY^T (OC x M) . cols (M x KH*KW*C),   db = sum over M of dY,
// which is exactly an inner product's backward-weights with M as its batch: oneDNN runs it as a
// GEMM at several times the direct kernel's rate. src and dL/dy are reordered to NHWC (the patch's
// channels are then contiguous), the patches copied row by row (zeros in the padding), and dW,
// computed in OHWI (the patch order), is added into the OIHW gradient by a reorder.
#pragma once

#include <cstddef>
#include <dnnl.hpp>
#include <vector>

#include "kernels/nn/cpu/dnnl_memory.hpp"
#include "kernels/nn/layer_params.hpp"
#include "kernels/nn/module.hpp"

namespace ft::nn::cpu {

// The bytes of the patch matrix im2col writes for a convolution from `in` to out_h x out_w, in
// elements of `bytes_per_value` (2 for bf16, 4 for f32).
std::size_t im2col_bytes(const Conv2dSpec& spec, const Shape& in, int out_h, int out_w,
                         std::size_t bytes_per_value);

// The share of the patch matrix's entries that lie inside the image (the rest is padding):
// 4/9 for a 3x3 convolution on a 2x2 map, 0.69 on 4x4.
double im2col_density(const Conv2dSpec& spec, const Shape& in, int out_h, int out_w);

// dL/dweight and dL/dbias of a groups-1 Conv2d by GEMMs: im2col, or one per kernel tap.
class GemmWeightGrad {
 public:
  // src_md / dst_md: the layer's input and output as the layers hand them on (any layout and
  // type); type: the type the product runs in (f32, or bf16 with f32 accumulation). Groups == 1.
  // per_tap: one product per kernel tap over only the pixels it reads inside the image, instead
  // of one over the whole patch matrix (less work where padding is much of it, more calls).
  void build(const Conv2dSpec& spec, const Shape& in, const Shape& out,
             dnnl::memory::data_type type, const dnnl::memory::desc& src_md,
             const dnnl::memory::desc& dst_md, bool per_tap = false);
  // Adds dL/dweight (and dL/dbias) of the batch into p's grads; x, dy: the layer's input and
  // the gradient of its output.
  void accumulate(const float* x, const float* dy, WeightBias& p);

 private:
  void im2col(unsigned char* cols) const;
  // Per kernel tap (kh, kw): the output pixels whose input lies inside the image form a
  // rectangle [y0, y1) x [x0, x1); dW[:, kh, kw, :] = dY[those]^T . src[their inputs].
  struct Tap {
    int kh = 0, kw = 0, y0 = 0, y1 = 0, x0 = 0, x1 = 0;
    dnnl::memory::dim rows = 0;  // N * (y1 - y0) * (x1 - x0)
    dnnl::matmul mm;
    dnnl::memory a, b, dw;  // rows x OC of dL/dy (read transposed), rows x C of src, OC x C of dW
  };
  void build_taps(dnnl::memory::data_type type);
  void run_taps(WeightBias& p, unsigned char* scratch);
  void gather(const Tap& t, unsigned char* a, unsigned char* b) const;
  void bias_grad(WeightBias& p);
  std::vector<Tap> taps_;
  bool per_tap_ = false;

  Conv2dSpec spec_{};
  Shape in_, out_;
  std::size_t value_bytes_ = 4;
  MemoryPair src_, ddst_, dw_;  // NHWC src, (M, OC) dL/dy, OHWI dW -> OIHW grad
  dnnl::memory cols_;           // the patches, in the per-thread scratch buffer (accumulate)
  dnnl::inner_product_backward_weights ip_;
  std::size_t scratch_bytes_ = 0;  // the patches, or the largest tap's rows of dL/dy and src
  std::vector<float> bias_sum_;
};

}  // namespace ft::nn::cpu

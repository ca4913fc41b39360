// Conv2d's im2col weight gradient (kernels/nn/cpu/conv_weight_grad.hpp) against oneDNN's direct
// backward-weights kernel, forced through make_conv2d's path argument: the same dL/dweight,
// dL/dbias and dL/dx up to f32 summation order, over strides, paddings ("same" included, which
// pads right and bottom more), dilation, non-square maps, 1/3/odd channel counts, plain and blocked
// inputs, f32 and bf16; gradients add across backward calls; refusals for what it cannot do.
#include "kernels/nn/cpu/conv_weight_grad.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/nn/cpu/layers.hpp"
#include "tests/kernels/nn/bf16_compare.hpp"

using namespace ft::nn;
using namespace ft::nn::bf16_check;
using namespace ft::nn::testing;
using cpu::ConvWeightGrad;

namespace {

struct Grads {
  std::vector<float> dx, dw, db;
};

// One forward and `passes` backward calls of a fresh layer on the given path; x, dy and dx are
// whole buffers in the layer's layouts.
Grads run(const Conv2dSpec& spec, const Shape& in, Precision precision, ConvWeightGrad path,
          const std::vector<float>& x, const std::vector<float>& dy, int passes = 1) {
  ModulePtr conv = cpu::make_conv2d(spec, in.layout != Layout::nchw, precision, path);
  const Shape out = conv->setup(in);
  std::vector<Parameter*> params;
  std::vector<Buffer*> buffers;
  conv->collect("", params, buffers);
  params[0]->value = random_vector(params[0]->value.size(), 40, -0.5f, 0.5f);
  const auto xs = to_storage(x, in.dtype), dys = to_storage(dy, out.dtype);
  conv->forward(xs.data(), true);
  const float* dx = nullptr;
  for (int i = 0; i < passes; ++i) dx = conv->backward(dys.data());
  Grads g{from_storage(dx, in.storage(), in.dtype), params[0]->grad, {}};
  if (spec.bias) g.db = params[1]->grad;
  return g;
}

// |a - b| within 1e-5 of the sum of |products| behind each value (bound: the direct path on |x|
// and |dy|), which f32 summation in any order stays inside for these sizes.
void check_close(const char* what, const std::vector<float>& a, const std::vector<float>& b,
                 const std::vector<float>& bound) {
  REQUIRE(a.size() == b.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::fabs(double(a[i]) - b[i]) > 1e-5 * bound[i] + 1e-6 && bad++ < 3)
      MESSAGE(what << "[" << i << "]: im2col " << a[i] << " direct " << b[i]);
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << a.size() << " differ");
}

struct Case {
  int n, c, o, kernel, stride, padding, dilation, h, w;
  bool same, bias;
};

}  // namespace

TEST_CASE("conv2d's im2col weight gradient equals oneDNN's direct kernel") {
  std::vector<Precision> precisions{Precision::f32};
  if (cpu_has_bf16()) precisions.push_back(Precision::bf16);
  for (const Case k : {Case{3, 5, 7, 3, 1, 1, 1, 4, 6, false, true},
                       Case{2, 16, 8, 3, 2, 1, 1, 7, 5, false, false},
                       Case{2, 8, 16, 5, 1, 2, 2, 9, 8, false, true},  // dilation 2
                       Case{4, 12, 20, 4, 1, 0, 1, 5, 7, true, true},  // "same": pads 1 / 2
                       Case{1, 3, 4, 3, 1, 0, 1, 3, 3, false, true},   // one output pixel
                       Case{2, 6, 5, 5, 1, 2, 1, 1, 2, false, true},   // taps on padding only
                       Case{3, 7, 9, 3, 3, 1, 1, 8, 7, false, false},  // stride 3: rows skipped
                       Case{5, 32, 48, 3, 1, 1, 1, 2, 2, false, false}}) {
    Conv2dSpec spec = conv2d_spec(k.c, k.o, k.kernel, k.stride, k.padding, k.bias, 1);
    spec.dilation = k.dilation;
    spec.same_padding = k.same;
    for (const Precision p : precisions)
      for (const Layout layout : {Layout::nchw, Layout::nChw16c}) {
        CAPTURE(k.c);
        CAPTURE(k.kernel);
        CAPTURE(k.stride);
        CAPTURE(k.h);
        CAPTURE(p == Precision::bf16);
        CAPTURE(layout == Layout::nChw16c);
        // Inside a bf16 network the input is bf16 (and blocked); the first layer's is f32.
        const DataType t =
            p == Precision::bf16 && layout != Layout::nchw ? DataType::bf16 : DataType::f32;
        const Shape in{k.n, k.c, k.h, k.w, layout, t};
        const Shape out = cpu::make_conv2d(spec, layout != Layout::nchw, p)->setup(in);
        // Whole buffers, a blocked layout's padding channels included (they meet zero weights).
        const auto x = random_vector(in.storage(), 1), dy = random_vector(out.storage(), 2);
        const Grads b = run(spec, in, p, ConvWeightGrad::direct, x, dy);
        const Grads bound = run(spec, in, p, ConvWeightGrad::direct, abs_of(x), abs_of(dy));
        for (const ConvWeightGrad path : {ConvWeightGrad::im2col, ConvWeightGrad::taps}) {
          CAPTURE(path == ConvWeightGrad::taps);
          const Grads a = run(spec, in, p, path, x, dy);
          check_close("dweight", a.dw, b.dw, bound.dw);
          check_close("dbias", a.db, b.db, bound.db);
          check_close("dx", a.dx, b.dx, std::vector<float>(b.dx.size(), 0.f));  // same kernel
        }
      }
  }
}

TEST_CASE("the im2col weight gradient adds into Parameter::grad across backward calls") {
  const Conv2dSpec spec = conv2d_spec(16, 24, 3, 1, 1, true, 1);
  const Shape in{4, 16, 4, 4};
  const auto x = random_vector(in.numel(), 3), dy = random_vector(4 * 24 * 4 * 4, 4);
  const Grads once = run(spec, in, Precision::f32, ConvWeightGrad::im2col, x, dy, 1);
  const Grads twice = run(spec, in, Precision::f32, ConvWeightGrad::im2col, x, dy, 2);
  for (std::size_t i = 0; i < once.dw.size(); ++i)
    CHECK(twice.dw[i] == doctest::Approx(2 * once.dw[i]).epsilon(1e-6));
  for (std::size_t i = 0; i < once.db.size(); ++i)
    CHECK(twice.db[i] == doctest::Approx(2 * once.db[i]).epsilon(1e-6));
}

TEST_CASE("the im2col weight gradient refuses grouped and 1x1 convolutions") {
  CHECK_THROWS_AS(cpu::make_conv2d(conv2d_spec(8, 8, 3, 1, 1, false, 2), true, Precision::f32,
                                   ConvWeightGrad::im2col),
                  std::invalid_argument);
  CHECK_THROWS_AS(cpu::make_conv2d(conv2d_spec(8, 8, 1, 1, 0, false, 1), true, Precision::f32,
                                   ConvWeightGrad::im2col),
                  std::invalid_argument);
  CHECK(cpu::im2col_bytes(conv2d_spec(256, 256, 3, 1, 1, false, 1), Shape{128, 256, 4, 4}, 4, 4,
                          2) == std::size_t{128} * 16 * 9 * 256 * 2);
}

// bf16 convolutions and matmuls (cpu_layers(_, Precision::bf16)) against the same layers in f32:
// per layer within the bound bf16 rounding allows, a whole model within a stated relative error,
// and the refusal on a CPU whose oneDNN ISA has no bf16 instructions (the ISA passed in). The
// layers that read and write bf16 activations (bf16_activations_test.cpp) are checked there.
#include "kernels/nn/cpu/bf16.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "kernels/nn/cpu/conv_weight_grad.hpp"
#include "kernels/nn/cpu/dnnl_context.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/geometry.hpp"
#include "kernels/nn/model.hpp"
#include "kernels/nn/module.hpp"
#include "kernels/random/philox.hpp"
#include "tests/kernels/nn/bf16_compare.hpp"

using namespace ft::nn;
using namespace ft::nn::bf16_check;
using namespace ft::nn::testing;

namespace {

// bf16 keeps 8 significant bits: rounding to it has relative error u <= 2^-8. A product of two
// rounded factors is off by at most (2u + u^2)|a b|; oneDNN sums the products in f32, whose
// rounding (K 2^-24 for K <= 2,304 terms here: < 1.4e-4) stays below 0.05 of 2u. So each output
// of y = x*W, dx = dy*W and dW = x*dy lies within kBf16Bound * (the same sum over |a||b|), which
// the f32 layer computes from |x|, |W|, |dy|. The bias gradient (sum of rounded dy) meets it too.
constexpr double kBf16Bound = 2 * kU + kU * kU + 0.05 * 2 * kU;
constexpr double kAtol = 1e-6;  // f32 rounding of the f32 bias added to y

struct Pass {
  std::vector<float> y, dx;
  std::vector<std::vector<float>> grads;  // per parameter, collect() order
};

using MakeLayer = std::function<ModulePtr(const LayerFactory&)>;

// One forward + backward of a fresh layer with seeded parameter values; abs_inputs: |weights|
// and zero biases (the bound run).
Pass run_layer(const MakeLayer& make, const LayerFactory& layers, const Shape& in,
               const std::vector<float>& x, const std::vector<float>& dy, bool abs_inputs) {
  ModulePtr m = make(layers);
  const Shape out = m->setup(in);
  std::vector<Parameter*> params;
  std::vector<Buffer*> buffers;
  m->collect("", params, buffers);
  for (std::size_t k = 0; k < params.size(); ++k) {
    const bool bias = k == 1;  // collect(): weight, then bias
    auto v = random_vector(params[k]->value.size(), 100 + k);
    if (abs_inputs) v = bias ? std::vector<float>(v.size(), 0.f) : abs_of(v);
    params[k]->value = v;
    std::fill(params[k]->grad.begin(), params[k]->grad.end(), 0.f);
  }
  Pass p;
  const auto xs = to_storage(x, in.dtype), dys = to_storage(dy, out.dtype);
  p.y = from_storage(m->forward(xs.data(), true), out.numel(), out.dtype);
  REQUIRE(dy.size() == p.y.size());
  p.dx = from_storage(m->backward(dys.data()), in.numel(), in.dtype);
  for (auto* q : params) p.grads.push_back(q->grad);
  return p;
}

// Every bf16 value within kBf16Bound * bound of f32 (plus u * bound when the result itself is
// stored in bf16: |y| <= bound) and, when `rounded`, some off by more than f32 rounding would be
// (the bf16 path ran).
void check_within(const char* what, const std::vector<float>& bf, const std::vector<float>& f,
                  const std::vector<float>& bound, bool rounded_expected = true,
                  bool stored_bf16 = false) {
  REQUIRE(bf.size() == f.size());
  std::size_t bad = 0, rounded = 0;
  const double rel = kBf16Bound + (stored_bf16 ? kU : 0);
  for (std::size_t i = 0; i < f.size(); ++i) {
    const double d = std::fabs(double(bf[i]) - f[i]), lim = rel * bound[i] + kAtol;
    if (d > lim) {
      if (bad++ < 3) MESSAGE(what << "[" << i << "]: bf16 " << bf[i] << " f32 " << f[i]);
    }
    if (d > 1e-3 * kU * bound[i] + kAtol) ++rounded;
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << f.size() << " outside the bf16 bound");
  if (rounded_expected) CHECK_MESSAGE(rounded > 0, what << ": no bf16 rounding seen");
}

// dweight_bf16: the layer computes dL/dweight in bf16 (see conv_weight_grad_path).
void check_layer(const MakeLayer& make, const Shape& in, bool dweight_bf16 = true) {
  if (!cpu_has_bf16()) {
    MESSAGE("skipped: oneDNN reports " << cpu::isa_name(dnnl::get_effective_cpu_isa()));
    return;
  }
  const Shape out = make(cpu_layers(false))->setup(in);
  const auto x = random_vector(in.numel(), 1), dy = random_vector(out.numel(), 2);
  const Pass f = run_layer(make, cpu_layers(false), in, x, dy, false);
  const Pass b = run_layer(make, cpu_layers(false, Precision::bf16), in, x, dy, false);
  const Pass bound = run_layer(make, cpu_layers(false), in, abs_of(x), abs_of(dy), true);
  // A bf16 convolution's y is bf16 (a Linear's f32); dx has the input's type (f32 here).
  const bool y_bf16 = make(cpu_layers(false, Precision::bf16))->setup(in).dtype == DataType::bf16;
  check_within("y", b.y, f.y, bound.y, true, y_bf16);
  check_within("dx", b.dx, f.dx, bound.dx);
  for (std::size_t k = 0; k < f.grads.size(); ++k)
    check_within(k == 0 ? "dweight" : "dbias", b.grads[k], f.grads[k], bound.grads[k],
                 dweight_bf16);
}

}  // namespace

TEST_CASE("bf16 conv2d stays within bf16 rounding of f32") {
  struct Case {
    int in, out, kernel, stride, padding, groups, h;
    bool bias;
  };
  for (const Case c : {Case{16, 32, 3, 1, 1, 1, 12, true}, Case{32, 64, 3, 2, 1, 1, 16, false},
                       Case{32, 32, 3, 1, 1, 4, 10, true},  // grouped, as in resnext
                       Case{64, 256, 1, 1, 0, 1, 8, false}, Case{3, 16, 7, 2, 3, 1, 20, false},
                       Case{32, 48, 3, 1, 1, 1, 4, true},      // 16 output pixels: im2col
                       Case{24, 40, 3, 2, 1, 1, 5, false},     // stride 2 to 3x3: taps
                       Case{16, 24, 3, 2, 1, 1, 16, true}}) {  // stride 2 to 8x8: im2col
    CAPTURE(c.in);
    CAPTURE(c.out);
    CAPTURE(c.kernel);
    CAPTURE(c.groups);
    CAPTURE(c.h);
    const Conv2dSpec spec =
        conv2d_spec(c.in, c.out, c.kernel, c.stride, c.padding, c.bias, c.groups);
    const Shape in{4, c.in, c.h, c.h}, out = cpu_layers(false).conv2d(spec)->setup(in);
    const auto path = cpu::conv_weight_grad_path(spec, in, out.h, out.w, Precision::bf16,
                                                 dnnl::get_effective_cpu_isa());
    check_layer([&](const LayerFactory& L) { return L.conv2d(spec); }, in,
                path != cpu::ConvWeightGrad::direct_f32);
  }
}

TEST_CASE("conv2d's weight-gradient path: a GEMM for few output pixels or a stride in bf16") {
  using cpu::ConvWeightGrad;
  const auto path = [](const Conv2dSpec& spec, int h, Precision p,
                       dnnl::cpu_isa isa = dnnl::cpu_isa::avx512_core_bf16) {
    const Shape in{128, spec.in_channels, h, h};
    const Shape out = conv2d_output(spec, in, "conv2d");
    return cpu::conv_weight_grad_path(spec, in, out.h, out.w, p, isa);
  };
  const Precision bf = Precision::bf16, f32 = Precision::f32;
  const Conv2dSpec c3 = conv2d_spec(256, 256, 3, 1, 1, false, 1);
  const Conv2dSpec s2 = conv2d_spec(64, 128, 3, 2, 1, false, 1);
  CHECK(path(conv2d_spec(64, 64, 3, 1, 1, false, 1), 16, bf) == ConvWeightGrad::direct);
  CHECK(path(conv2d_spec(64, 64, 1, 2, 0, false, 1), 4, bf) == ConvWeightGrad::direct);  // 1x1
  CHECK(path(c3, 4, bf) == ConvWeightGrad::taps);  // 4x4: padding 31% of the patches
  CHECK(path(c3, 4, f32) == ConvWeightGrad::taps);
  CHECK(path(c3, 2, bf) == ConvWeightGrad::taps);  // 2x2: padding 56%
  CHECK(path(c3, 2, f32) == ConvWeightGrad::taps);
  CHECK(path(s2, 16, bf) == ConvWeightGrad::im2col);  // strided bf16: 8x8 out, padding 8%
  CHECK(path(s2, 16, f32) == ConvWeightGrad::direct);
  CHECK(path(s2, 64, bf) == ConvWeightGrad::direct_f32);  // 32x32 out: 151 MB of patches
  CHECK(path(conv2d_spec(256, 512, 3, 2, 1, false, 1), 8, bf) == ConvWeightGrad::taps);  // 16%
  CHECK(path(c3, 4, bf, dnnl::cpu_isa::avx512_core_amx) == ConvWeightGrad::direct);
  // Grouped (resnext): oneDNN's kernel in f32 (bf16's was up to 2.8x slower on 8x8 maps).
  CHECK(path(conv2d_spec(256, 256, 3, 1, 1, false, 32), 8, bf) == ConvWeightGrad::direct_f32);
  CHECK(path(conv2d_spec(256, 256, 3, 1, 1, false, 32), 8, f32) == ConvWeightGrad::direct);
  CHECK(path(conv2d_spec(3, 64, 7, 2, 3, false, 1), 8, bf) == ConvWeightGrad::direct);  // stem
  // Patches over kIm2colMaxBytes (32768 x 4 x 4 x 9 x 256 x 2 bytes) stay direct.
  CHECK(cpu::conv_weight_grad_path(c3, Shape{32768, 256, 4, 4}, 4, 4, bf,
                                   dnnl::cpu_isa::avx512_core_bf16) == ConvWeightGrad::direct);
  CHECK(cpu::im2col_density(c3, Shape{1, 256, 2, 2}, 2, 2) == doctest::Approx(4.0 / 9));
  CHECK(cpu::im2col_density(c3, Shape{1, 256, 4, 4}, 4, 4) == doctest::Approx(100.0 / 144));
  CHECK(cpu::im2col_density(conv2d_spec(8, 8, 3, 1, 0, false, 1), Shape{1, 8, 5, 5}, 3, 3) == 1.0);
}

TEST_CASE("bf16 linear stays within bf16 rounding of f32") {
  // 16 -> 2048: the narrow-input shape whose backward-data keeps plain layouts (linear.cpp).
  for (const LinearSpec spec :
       {LinearSpec{256, 10, true}, LinearSpec{512, 200, false}, LinearSpec{16, 2048, true}}) {
    CAPTURE(spec.in_features);
    CAPTURE(spec.out_features);
    check_layer([&](const LayerFactory& L) { return L.linear(spec); },
                Shape{8, spec.in_features, 1, 1});
  }
}

namespace {}  // namespace

TEST_CASE("a bf16 model's forward and backward stay as close to f32 as bf16 rounding allows") {
  if (!cpu_has_bf16()) {
    MESSAGE("skipped: oneDNN reports " << cpu::isa_name(dnnl::get_effective_cpu_isa()));
    return;
  }
  ModelSpec spec;
  spec.kind = "resnet_small";
  spec.in_channels = 1;
  spec.height = spec.width = 28;
  spec.init_seed = 3;
  const int n = 16;
  const auto x = random_vector(std::size_t(n) * 28 * 28, 5), dl = random_vector(n * 10, 6);
  // The model's own sensitivity: f32 with each input and dlogits value moved by up to u, as
  // rounding them to bf16 would. bf16 rounds every layer's inputs and weights too, so its
  // gradients may differ from f32's by a few times as much (batch norm over 16 samples makes them
  // sensitive: both are near 10% here), never by more than kSensitivityFactor times, plus one
  // layer's bound (2u) for the last layers, which the perturbation barely moves.
  const ModelPass f = run_model(spec, cpu_layers(true), x, dl, n);
  const ModelPass b = run_model(spec, cpu_layers(true, Precision::bf16), x, dl, n);
  const ModelPass p =
      run_model(spec, cpu_layers(true), perturbed_by_u(x, 7), perturbed_by_u(dl, 8), n);
  // The logits: each of the 8 convolutions and the Linear adds about u relative error (batch norm
  // passes it on unchanged in size): 8u bounds their sum.
  const double logits_err = rel_error(b.logits, f.logits);
  CHECK(logits_err < 8 * kU);
  CHECK(logits_err > 1e-5);  // bf16 did run: f32 alone agrees to ~1e-7
  constexpr double kSensitivityFactor = 3;
  const auto errors = grad_errors(b.grads, f.grads, p.grads);
  REQUIRE(errors.size() == f.grads.size());
  for (std::size_t k = 0; k < errors.size(); ++k) {
    CAPTURE(k);
    CHECK(errors[k].bf16 < kSensitivityFactor * errors[k].perturbed + 2 * kU);
  }
}

TEST_CASE("bf16 is refused on a CPU without bf16 instructions, naming oneDNN's ISA") {
  for (const auto isa : {dnnl::cpu_isa::avx2, dnnl::cpu_isa::avx512_core,
                         dnnl::cpu_isa::avx512_core_vnni, dnnl::cpu_isa::avx2_vnni}) {
    const std::string name = cpu::isa_name(isa);
    CAPTURE(name);
    try {
      cpu::require_bf16(isa);
      FAIL("no refusal");
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      CHECK(msg.find("oneDNN reports " + name + " on this CPU") != std::string::npos);
      CHECK(msg.find("precision = \"f32\"") != std::string::npos);
    }
  }
  CHECK_NOTHROW(cpu::require_bf16(dnnl::cpu_isa::avx512_core_bf16));
  CHECK_NOTHROW(cpu::require_bf16(dnnl::cpu_isa::avx512_core_amx));
  // This machine (or oneDNN capped by ONEDNN_MAX_CPU_ISA): the factory refuses exactly when the
  // ISA check does.
  if (cpu_has_bf16())
    CHECK_NOTHROW((void)cpu_layers(true, Precision::bf16));
  else
    CHECK_THROWS_AS((void)cpu_layers(true, Precision::bf16), std::runtime_error);
}

TEST_CASE("conv2d and linear add dL/dweight into Parameter::grad across backward calls") {
  // The reorder from oneDNN's gradient layout to the parameter's adds into it (a sum post-op):
  // two backward passes of one forward give twice one pass's gradient, in f32 and bf16.
  std::vector<const LayerFactory*> factories{&cpu_layers(true)};
  if (cpu_has_bf16()) factories.push_back(&cpu_layers(true, Precision::bf16));
  for (const LayerFactory* L : factories) {
    const Conv2dSpec spec = conv2d_spec(16, 32, 3, 1, 1, true, 1);
    for (const bool conv : {true, false}) {
      ModulePtr m = conv ? L->conv2d(spec) : L->linear(LinearSpec{64, 32, true});
      const Shape in = conv ? Shape{4, 16, 8, 8} : Shape{4, 64, 1, 1}, out = m->setup(in);
      std::vector<Parameter*> params;
      std::vector<Buffer*> buffers;
      m->collect("", params, buffers);
      for (std::size_t k = 0; k < params.size(); ++k)
        params[k]->value = random_vector(params[k]->value.size(), 30 + k);
      const auto x = random_vector(in.numel(), 3);
      const auto dy = to_storage(random_vector(out.numel(), 4), out.dtype);
      m->forward(x.data(), true);
      m->backward(dy.data());
      std::vector<std::vector<float>> once;
      for (auto* p : params) once.push_back(p->grad);
      m->backward(dy.data());
      for (std::size_t k = 0; k < params.size(); ++k)
        for (std::size_t i = 0; i < once[k].size(); ++i)
          CHECK(params[k]->grad[i] == doctest::Approx(2 * once[k][i]).epsilon(1e-6));
    }
  }
}

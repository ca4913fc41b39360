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

#include "kernels/nn/cpu/dnnl_context.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/model.hpp"
#include "kernels/nn/module.hpp"
#include "kernels/random/philox.hpp"
#include "tests/kernels/nn/bf16_compare.hpp"

using namespace ft::nn;
using namespace ft::nn::bf16_check;

namespace {

// bf16 keeps 8 significant bits: rounding to it has relative error u <= 2^-8. A product of two
// rounded factors is off by at most (2u + u^2)|a b|; oneDNN sums the products in f32, whose
// rounding (K 2^-24 for K <= 2,304 terms here: < 1.4e-4) stays below 0.05 of 2u. So each output
// of y = x*W, dx = dy*W and dW = x*dy lies within kBf16Bound * (the same sum over |a||b|), which
// the f32 layer computes from |x|, |W|, |dy|. The bias gradient (sum of rounded dy) meets it too.
constexpr double kBf16Bound = 2 * kU + kU * kU + 0.05 * 2 * kU;
constexpr double kAtol = 1e-6;  // f32 rounding of the f32 bias added to y

std::vector<float> random_vector(std::size_t n, std::uint64_t seed) {
  ft::rng::Philox g(seed, 0, 0, 11);
  std::vector<float> v(n);
  for (float& x : v) x = g.uniform(-1.f, 1.f);
  return v;
}

std::vector<float> abs_of(std::vector<float> v) {
  for (float& x : v) x = std::fabs(x);
  return v;
}

struct Pass {
  std::vector<float> y, dx;
  std::vector<std::vector<float>> grads;  // per parameter, collect() order
};

using MakeLayer = std::function<ModulePtr(const LayerFactory&)>;

// One forward + backward of a fresh layer with seeded parameter values; abs_inputs: |weights|
// and zero biases (the bound run).
// v as the storage of a tensor of type t (bf16: two values a float, rounded), and back.
std::vector<float> to_storage(const std::vector<float>& v, DataType t) {
  if (t == DataType::f32) return v;
  std::vector<float> s((v.size() + 1) / 2);
  for (std::size_t i = 0; i < v.size(); ++i)
    cpu::as_bf16(s.data())[i].bits = cpu::f32_to_bf16(v[i]);
  return s;
}
std::vector<float> from_storage(const float* p, std::size_t n, DataType t) {
  if (t == DataType::f32) return {p, p + n};
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = cpu::bf16_to_f32(cpu::as_bf16(p)[i].bits);
  return v;
}

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

// dweight_bf16: the layer computes dL/dweight in bf16 (see conv_bf16_weight_grad).
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
                       Case{64, 256, 1, 1, 0, 1, 8, false}, Case{3, 16, 7, 2, 3, 1, 20, false}}) {
    CAPTURE(c.in);
    CAPTURE(c.out);
    CAPTURE(c.kernel);
    CAPTURE(c.groups);
    const Conv2dSpec spec =
        conv2d_spec(c.in, c.out, c.kernel, c.stride, c.padding, c.bias, c.groups);
    const Shape in{4, c.in, c.h, c.h}, out = cpu_layers(false).conv2d(spec)->setup(in);
    check_layer([&](const LayerFactory& L) { return L.conv2d(spec); }, in,
                cpu::conv_bf16_weight_grad(spec, out.h, out.w, dnnl::get_effective_cpu_isa()));
  }
}

TEST_CASE("bf16 conv2d keeps dL/dweight in f32 where oneDNN's bf16 kernel is slow (no AMX)") {
  const auto isa = dnnl::cpu_isa::avx512_core_bf16;
  CHECK(cpu::conv_bf16_weight_grad(conv2d_spec(64, 64, 3, 1, 1, false, 1), 16, 16, isa));
  CHECK(cpu::conv_bf16_weight_grad(conv2d_spec(64, 64, 1, 2, 0, false, 1), 2, 2, isa));
  CHECK_FALSE(cpu::conv_bf16_weight_grad(conv2d_spec(64, 128, 3, 2, 1, false, 1), 8, 8, isa));
  CHECK_FALSE(cpu::conv_bf16_weight_grad(conv2d_spec(256, 256, 3, 1, 1, false, 1), 4, 4, isa));
  CHECK(cpu::conv_bf16_weight_grad(conv2d_spec(256, 256, 3, 1, 1, false, 1), 4, 4,
                                   dnnl::cpu_isa::avx512_core_amx));
  CHECK(cpu::conv_bf16_weight_grad(conv2d_spec(3, 64, 7, 2, 3, false, 1), 32, 32, isa));  // stem
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
  const auto perturbed = [](std::vector<float> v, std::uint64_t seed) {
    const auto r = random_vector(v.size(), seed);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] *= float(1 + kU * r[i]);
    return v;
  };
  const ModelPass f = run_model(spec, cpu_layers(true), x, dl, n);
  const ModelPass b = run_model(spec, cpu_layers(true, Precision::bf16), x, dl, n);
  const ModelPass p = run_model(spec, cpu_layers(true), perturbed(x, 7), perturbed(dl, 8), n);
  // The logits: each of the 8 convolutions and the Linear adds about u relative error (batch norm
  // passes it on unchanged in size): 8u bounds their sum.
  const double logits_err = rel_error(b.logits, f.logits);
  CHECK(logits_err < 8 * kU);
  CHECK(logits_err > 1e-5);  // bf16 did run: f32 alone agrees to ~1e-7
  constexpr double kSensitivityFactor = 3;
  for (std::size_t k = 0; k < f.grads.size(); ++k) {
    CAPTURE(k);
    const double bf16_err = rel_error(b.grads[k], f.grads[k]),
                 perturbed_err = rel_error(p.grads[k], f.grads[k]);
    CHECK(bf16_err < kSensitivityFactor * perturbed_err + 2 * kU);
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

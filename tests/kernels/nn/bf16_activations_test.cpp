// The CPU layers that read and write bf16 activations (batch norm, ReLU, max pool, the residual
// join, global average pooling, layout/type conversion) against the same layers in f32 on the
// same values, and a whole residual block of bf16 layers against f32. Inputs are bf16-exact
// values, so the f32 layer sees what the bf16 one sees and the difference is the rounding of
// the outputs alone (these layers compute in f32 inside).
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/augment/pixel.hpp"
#include "kernels/nn/blocks.hpp"
#include "kernels/nn/cpu/bf16.hpp"
#include "kernels/nn/cpu/dnnl_context.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/module.hpp"
#include "kernels/random/philox.hpp"
#include "tests/kernels/nn/bf16_compare.hpp"

using namespace ft::nn;
using namespace ft::nn::bf16_check;

namespace {

// Random values in [-1, 1) already rounded to bf16 (held as f32).
std::vector<float> bf16_exact(std::size_t n, std::uint64_t seed) {
  ft::rng::Philox g(seed, 0, 0, 12);
  std::vector<float> v(n);
  for (float& x : v) x = cpu::bf16_to_f32(cpu::f32_to_bf16(g.uniform(-1.f, 1.f)));
  return v;
}

// f32 values <-> the storage of a tensor of shape s (bf16: two elements a float).
std::vector<float> store(const std::vector<float>& v, const Shape& s) {
  if (s.dtype == DataType::f32) return v;
  std::vector<float> out(static_cast<std::size_t>(s.buffer_floats()));
  for (std::size_t i = 0; i < v.size(); ++i)
    cpu::as_bf16(out.data())[i].bits = cpu::f32_to_bf16(v[i]);
  return out;
}
std::vector<float> load(const float* p, const Shape& s) {
  const auto n = static_cast<std::size_t>(s.storage());
  if (s.dtype == DataType::f32) return {p, p + n};
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = cpu::bf16_to_f32(cpu::as_bf16(p)[i].bits);
  return v;
}

Shape with_dtype(Shape s, DataType t) {
  s.dtype = t;
  return s;
}

// Each bf16 value equals the f32 one rounded to bf16 within one rounding (u |f|) plus `atol`
// (what the f32 computation's own summation order may move); `exact`: bit-equal to the rounding.
void check_rounded(const char* what, const std::vector<float>& bf, const std::vector<float>& f,
                   double atol, bool exact = false) {
  REQUIRE(bf.size() == f.size());
  std::size_t bad = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const float r = cpu::bf16_to_f32(cpu::f32_to_bf16(f[i]));
    const bool ok =
        exact ? bf[i] == r : std::fabs(double(bf[i]) - f[i]) <= kU * std::fabs(f[i]) + atol;
    if (!ok && bad++ < 3) MESSAGE(what << "[" << i << "]: bf16 " << bf[i] << " f32 " << f[i]);
  }
  CHECK_MESSAGE(bad == 0, what << ": " << bad << " of " << f.size() << " off");
}

struct Pass {
  std::vector<float> y, dx;
  std::vector<std::vector<float>> grads, buffers;
};

// forward(training) + backward of m on x and dy (given as f32 values), at input dtype t.
Pass run(Module& m, Shape in, DataType t, const std::vector<float>& x,
         const std::vector<float>& dy) {
  in.dtype = t;
  const Shape out = m.setup(in);
  CHECK(out.dtype == t);
  std::vector<Parameter*> params;
  std::vector<Buffer*> buffers;
  m.collect("", params, buffers);
  const auto xs = store(x, in), dys = store(dy, out);
  Pass p;
  p.y = load(m.forward(xs.data(), true), out);
  p.dx = load(m.backward(dys.data()), in);
  for (auto* q : params) p.grads.push_back(q->grad);
  for (auto* b : buffers) p.buffers.push_back(b->value);
  return p;
}

}  // namespace

namespace {

// f rounded to bf16 by the definition: of the two bf16 values around f (its truncation and the
// next one away from zero) the nearer, the even one on a tie; past the largest finite value the
// next one is infinity, reached from the midpoint on; NaN -> 0x7FC0.
std::uint16_t bf16_by_definition(float f) {
  if (std::isnan(f)) return 0x7FC0;
  const auto lo = static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(f) >> 16);
  if (cpu::bf16_to_f32(lo) == f) return lo;  // exact (zeros and infinities included)
  const auto hi = static_cast<std::uint16_t>(lo + 1);
  const double a = std::fabs(double(cpu::bf16_to_f32(lo)));
  const double b = (hi & 0x7FFFu) == 0x7F80u  // the step past the largest finite bf16
                       ? a + (a - std::fabs(double(cpu::bf16_to_f32(lo - 1))))
                       : std::fabs(double(cpu::bf16_to_f32(hi)));
  const double x = std::fabs(double(f));
  if (x - a != b - x) return x - a < b - x ? lo : hi;
  return (lo & 1u) ? hi : lo;
}

}  // namespace

TEST_CASE("f32 -> bf16 rounds to nearest, ties to even, on every f32 class; back is exact") {
  // Zeros, denormals, normals around each tie, the largest finite values (rounding to inf), inf
  // and NaN, both signs: every 2^-13 step of the bit pattern hits each case. The layers and the
  // images share this one function (kernels/bf16_bits.hpp).
  std::size_t checked = 0, rounded_up = 0;
  for (std::uint64_t u = 0; u <= 0xffffffffu; u += 0x7ffd) {
    const auto bits = static_cast<std::uint32_t>(u);
    for (const std::uint32_t v :
         {bits, bits | 0x7fffu, (bits & ~0xffffu) | 0x8000u, (bits & ~0xffffu) | 0x18000u}) {
      const float f = std::bit_cast<float>(v);
      const std::uint16_t b = cpu::f32_to_bf16(f);
      REQUIRE(b == bf16_by_definition(f));
      rounded_up += b != static_cast<std::uint16_t>(v >> 16);
      const auto top = static_cast<std::uint16_t>(v >> 16);
      REQUIRE(std::bit_cast<std::uint32_t>(cpu::bf16_to_f32(top)) == (v & 0xffff0000u));
      ++checked;
    }
  }
  CHECK(checked > 400000);
  CHECK(rounded_up > 100000);
  CHECK(cpu::f32_to_bf16(std::bit_cast<float>(0x7f7fffffu)) == 0x7f80);  // max float -> inf
  CHECK(cpu::f32_to_bf16(std::bit_cast<float>(0xff800001u)) == 0x7fc0);  // NaN -> quiet NaN
}

TEST_CASE("ReLU's backward mask keeps x exactly where m > 0 as f32 compares, in f32 and bf16") {
  // Every bf16 pattern as the mask (zeros, denormals, inf, NaN, both signs); x's bits pass intact.
  const std::uint16_t x16 = 0xbf81;  // -1.0078125
  for (std::uint32_t b = 0; b <= 0xffffu; ++b) {
    const auto m = static_cast<std::uint16_t>(b);
    const float mf = cpu::bf16_to_f32(m);
    const bool keep = mf > 0.f;
    REQUIRE(cpu::masked(m, x16) == (keep ? x16 : 0));
    const float x = std::bit_cast<float>(0xffc00001u);  // a NaN with payload
    REQUIRE(std::bit_cast<std::uint32_t>(cpu::masked(mf, x)) == (keep ? 0xffc00001u : 0u));
  }
}

TEST_CASE("bf16 batch norm (with and without fused ReLU) rounds f32's result once") {
  if (!cpu_has_bf16()) return;
  for (const Layout layout : {Layout::nChw16c, Layout::nchw})
    for (const bool relu : {false, true}) {
      CAPTURE(relu);
      CAPTURE(int(layout));
      const Shape in{8, 32, 6, 6, layout};
      const auto x = bf16_exact(in.storage(), 1), dy = bf16_exact(in.storage(), 2);
      BatchNormSpec spec{32, 1e-5f, 0.1f, relu};
      const Pass f = run(*cpu_layers(false).batch_norm(spec), in, DataType::f32, x, dy);
      const Pass b = run(*cpu_layers(false).batch_norm(spec), in, DataType::bf16, x, dy);
      check_rounded("y", b.y, f.y, 1e-6);
      // dx = g/sigma (dy - mean(dy) - xhat mean(dy xhat)): its f32 sums over 288 values may
      // differ in order between the two kernels (~1e-6 of the terms, which are O(1) here).
      check_rounded("dx", b.dx, f.dx, 1e-5);
      for (std::size_t k = 0; k < f.grads.size(); ++k)  // dscale, dshift: f32 on the same values
        for (std::size_t i = 0; i < f.grads[k].size(); ++i)
          CHECK(b.grads[k][i] == doctest::Approx(f.grads[k][i]).epsilon(1e-5));
      for (std::size_t k = 0; k < f.buffers.size(); ++k)  // running statistics stay f32
        for (std::size_t i = 0; i < f.buffers[k].size(); ++i)
          CHECK(b.buffers[k][i] == doctest::Approx(f.buffers[k][i]).epsilon(1e-6));
    }
}

TEST_CASE("bf16 ReLU and max pool give exactly f32's values") {
  if (!cpu_has_bf16()) return;
  const Shape in{2, 32, 8, 8, Layout::nChw16c};
  // Max pool: values k/16 with k = 7p mod 64 (p the plane offset): distinct in every 2x2 window,
  // so both kernels pick the same input and route dy identically.
  std::vector<float> pool_x(in.storage());
  for (std::size_t i = 0; i < pool_x.size(); ++i)
    pool_x[i] = float(int(((i / 16) % 64) * 7 % 64) - 32) / 16.f + float(i % 16) / 4.f;
  const auto x = bf16_exact(in.storage(), 3), dy = bf16_exact(in.storage(), 4);
  {
    const Pass f = run(*cpu_layers(false).relu(), in, DataType::f32, x, dy);
    const Pass b = run(*cpu_layers(false).relu(), in, DataType::bf16, x, dy);
    check_rounded("relu y", b.y, f.y, 0, true);
    check_rounded("relu dx", b.dx, f.dx, 0, true);
  }
  const MaxPoolSpec spec{2, 2, 0};
  const Shape out = cpu_layers(false).max_pool(spec)->setup(in);
  CHECK(cpu_layers(false).max_pool(spec)->setup(with_dtype(in, DataType::bf16)).dtype ==
        DataType::bf16);
  const auto pool_dy = bf16_exact(out.storage(), 5);
  const Pass f = run(*cpu_layers(false).max_pool(spec), in, DataType::f32, pool_x, pool_dy);
  const Pass b = run(*cpu_layers(false).max_pool(spec), in, DataType::bf16, pool_x, pool_dy);
  check_rounded("pool y", b.y, f.y, 0, true);
  check_rounded("pool dx", b.dx, f.dx, 0, true);
}

TEST_CASE("bf16 residual join rounds the f32 sum once; global average pool reads bf16") {
  if (!cpu_has_bf16()) return;
  const Shape s{4, 16, 5, 5, Layout::nChw16c, DataType::bf16}, f32s = with_dtype(s, DataType::f32);
  const auto a = bf16_exact(s.storage(), 6), b = bf16_exact(s.storage(), 7),
             dy = bf16_exact(s.storage(), 8);
  for (const bool relu : {false, true}) {
    CAPTURE(relu);
    auto add_f = cpu_layers(false).residual_add(relu), add_b = cpu_layers(false).residual_add(relu);
    add_f->setup(f32s, f32s);
    add_b->setup(s, s);
    const auto as = store(a, s), bs = store(b, s), dys = store(dy, s);
    check_rounded("y", load(add_b->forward(as.data(), bs.data()), s),
                  load(add_f->forward(a.data(), b.data()), f32s), 0, true);
    check_rounded("dsum", load(add_b->backward(dys.data()), s),
                  load(add_f->backward(dy.data()), f32s), 0, true);
    check_rounded("dx", load(add_b->sum_input_grads(as.data(), dys.data()), s),
                  load(add_f->sum_input_grads(a.data(), dy.data()), f32s), 0, true);
  }
  auto gap_f = cpu_layers(false).global_avg_pool(), gap_b = cpu_layers(false).global_avg_pool();
  const Shape out = gap_b->setup(s);
  CHECK(out.dtype == DataType::f32);  // the head after it is f32
  gap_f->setup(f32s);
  const auto xs = store(a, s);
  const auto gdy = bf16_exact(out.storage(), 9);
  const auto yb = load(gap_b->forward(xs.data(), true), out),
             yf = load(gap_f->forward(a.data(), true), out);
  for (std::size_t i = 0; i < yf.size(); ++i) CHECK(yb[i] == doctest::Approx(yf[i]).epsilon(1e-6));
  check_rounded("gap dx", load(gap_b->backward(gdy.data()), s),
                load(gap_f->backward(gdy.data()), f32s), 0, true);
}

TEST_CASE("convert: f32 NCHW <-> bf16 nChw16c and back, and Flatten hands on f32") {
  if (!cpu_has_bf16()) return;
  const Shape in{2, 20, 3, 3};
  const auto x = bf16_exact(in.storage(), 10);
  auto to = cpu_layers(true, Precision::bf16).convert(Layout::nChw16c, DataType::bf16);
  const Shape out = to->setup(in);
  CHECK(out.dtype == DataType::bf16);
  CHECK(out.layout == Layout::nChw16c);
  auto back = cpu_layers(true, Precision::bf16).convert(Layout::nchw, DataType::f32);
  CHECK(back->setup(out) == in);
  const float* y = back->forward(to->forward(x.data(), true), true);
  CHECK(std::vector<float>(y, y + in.storage()) == x);
  const float* dx = to->backward(back->backward(x.data()));
  CHECK(std::vector<float>(dx, dx + in.storage()) == x);
  auto flat = cpu_layers(true, Precision::bf16).flatten();
  const Shape f = flat->setup(out);
  CHECK(f.dtype == DataType::f32);
  CHECK(f.c == 20 * 9);
  // Layers that only hold f32 refuse bf16 by name rather than misread it.
  CHECK_THROWS_AS(cpu_layers(false).dropout(0.5f, 0)->setup(out), std::invalid_argument);
}

namespace {

// stem conv -> BN+ReLU -> a torchvision BasicBlock with a strided downsample -> one without ->
// global average pool: every bf16 activation layer and both kinds of residual join.
Sequential small_net(const LayerFactory& L, bool pool = true) {
  const auto block = [&](int in, int out, int stride) {
    Sequential main, skip;
    main.add("conv1", L.conv2d(conv2d_spec(in, out, 3, stride, 1, false, 1)))
        .add("bn1", L.batch_norm(BatchNormSpec{out, 1e-5f, 0.1f, true}))
        .add("conv2", L.conv2d(conv2d_spec(out, out, 3, 1, 1, false, 1)))
        .add("bn2", L.batch_norm(BatchNormSpec{out}));
    if (stride != 1)
      skip.add("0", L.conv2d(conv2d_spec(in, out, 1, stride, 0, false, 1)))
          .add("1", L.batch_norm(BatchNormSpec{out}));
    return std::make_unique<Residual>(L, std::move(main), std::move(skip), true, "", "down.");
  };
  Sequential net;
  net.add("conv1", L.conv2d(conv2d_spec(3, 16, 3, 1, 1, false, 1)))
      .add("bn1", L.batch_norm(BatchNormSpec{16, 1e-5f, 0.1f, true}))
      .add("layer1", block(16, 32, 2))
      .add("layer2", block(32, 32, 1));
  if (pool) net.add("pool", L.global_avg_pool());
  return net;
}

struct NetPass {
  Shape block_out;
  std::vector<float> y;
  std::vector<std::vector<float>> grads;
};

NetPass run_net(const LayerFactory& L, const std::vector<float>& x, const std::vector<float>& dy) {
  Sequential net = small_net(L);
  std::vector<Parameter*> params;
  std::vector<Buffer*> buffers;
  net.collect("", params, buffers);
  for (std::size_t k = 0; k < params.size(); ++k)
    if (params[k]->role == ParamRole::weight)
      params[k]->value = bf16_exact(params[k]->value.size(), 20 + k);
  net.skip_input_grad();
  const Shape in{16, 3, 12, 12};
  const Shape out = net.setup(in);
  NetPass p;
  p.block_out = small_net(L, false).setup(in);
  p.y = load(net.forward(x.data(), true), out);
  net.backward(dy.data());
  for (auto* q : params) p.grads.push_back(q->grad);
  return p;
}

}  // namespace

TEST_CASE("a residual block of bf16 layers stays within bf16 rounding of f32") {
  if (!cpu_has_bf16()) return;
  const auto x = bf16_exact(16 * 3 * 12 * 12, 11), dy = bf16_exact(16 * 32, 12);
  // The network's own sensitivity, as in bf16_test.cpp's whole-model case: f32 with each input
  // and dy value moved by up to u. bf16 rounds every layer's input, weights and output, so it
  // may differ from f32 a few times as much (batch norm over 16 samples makes the gradients
  // sensitive), never by more than kSensitivityFactor times plus one layer's bound (2u).
  const NetPass f = run_net(cpu_layers(true), x, dy);
  const NetPass b = run_net(cpu_layers(true, Precision::bf16), x, dy);
  const NetPass p = run_net(cpu_layers(true), perturbed_by_u(x, 13), perturbed_by_u(dy, 14));
  CHECK(b.block_out.dtype == DataType::bf16);  // bf16 between the layers
  CHECK(b.block_out.layout == Layout::nChw16c);
  CHECK(f.block_out.dtype == DataType::f32);
  // The pooled features: 5 convolutions' rounding of inputs (u each) and outputs, the BNs' and
  // joins' output rounding (u each) add up to well under 16u.
  const double y_err = rel_error(b.y, f.y);
  CHECK(y_err < 16 * kU);
  CHECK(y_err > 1e-5);  // bf16 did run
  constexpr double kSensitivityFactor = 3;
  const auto errors = grad_errors(b.grads, f.grads, p.grads);
  REQUIRE(errors.size() == f.grads.size());
  for (std::size_t k = 0; k < errors.size(); ++k) {
    CAPTURE(k);
    CHECK(errors[k].bf16 < kSensitivityFactor * errors[k].perturbed + 2 * kU);
  }
}

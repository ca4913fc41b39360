// basic_math.hpp's log and (cos, sin)(2 pi u) against libm in double: exhaustively over the 2^24
// uniforms that Philox draws (the inputs Box-Muller gives them), and over random floats of the
// whole domain. The bounds are the measured worst cases rounded up: a change that costs accuracy
// fails here before it shows as a statistical drift in the noise.
#include "kernels/random/basic_math.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

using ft::rng::cos_sin_2pi;
using ft::rng::log_basic;

namespace {

// |got - want| in units of the float ulp at want (subnormal ulp below 2^-126).
double ulps(float got, double want) {
  int e = 0;
  std::frexp(want, &e);  // want = m 2^e, m in [0.5, 1)
  const double ulp = std::ldexp(1.0, std::max(e - 24, -149));
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

// cos and sin of 2 pi u in double, reduced as exactly as cos_sin_2pi does (t = u - q / 4 is exact
// in double too), so the zeros at quarter turns are zeros: the reference error is ~1e-16.
void reference(float u, double& c, double& s) {
  const double q = std::rint(4.0 * u), t = static_cast<double>(u) - q / 4;
  const double a = 2.0 * 3.14159265358979323846 * t, ct = std::cos(a), st = std::sin(a);
  const int quadrant = static_cast<int>(static_cast<long long>(q) & 3);
  c = quadrant == 0 ? ct : quadrant == 1 ? -st : quadrant == 2 ? -ct : st;
  s = quadrant == 0 ? st : quadrant == 1 ? ct : quadrant == 2 ? -st : -ct;
}

struct Worst {
  double ulps = 0;
  float at = 0;
  void add(double e, float x) {
    if (e <= ulps) return;
    ulps = e;
    at = x;
  }
};

}  // namespace

TEST_CASE("log_basic is within 0.9 ulp of log, on every 24-bit uniform and on random floats") {
  Worst uniform, any;
  for (std::uint32_t k = 1; k <= (1u << 24); ++k) {  // (0, 1]: Box-Muller's u1
    const float u = static_cast<float>(k) * (1.0f / 16777216.0f);
    uniform.add(ulps(log_basic(u), std::log(static_cast<double>(u))), u);
  }
  std::mt19937 gen(1);
  std::uniform_int_distribution<std::uint32_t> bits(
      1, 0x7F7FFFFFu);  // positive finite, subnormals too
  for (int i = 0; i < 4000000; ++i) {
    const std::uint32_t b = bits(gen);
    float x;
    std::memcpy(&x, &b, 4);
    any.add(ulps(log_basic(x), std::log(static_cast<double>(x))), x);
  }
  MESSAGE("log_basic: " << uniform.ulps << " ulp on (0, 1] (at " << uniform.at << "), " << any.ulps
                        << " ulp on random floats (at " << any.at << ")");
  CHECK(uniform.ulps <= 0.9);
  CHECK(any.ulps <= 0.9);
  CHECK(log_basic(1.0f) == 0.0f);
  for (const float x : {0x1p-149f, 0x1.8p-140f, 0x1.fffffcp-127f, 0x1.fffffep127f})
    CHECK(ulps(log_basic(x), std::log(static_cast<double>(x))) <= 0.9);
}

TEST_CASE("cos_sin_2pi is within 1.6 ulp of cos and sin, on every 24-bit uniform and beyond") {
  Worst wc, ws;
  const auto check = [&](float u) {
    float c, s;
    double rc, rs;
    cos_sin_2pi(u, c, s);
    reference(u, rc, rs);
    wc.add(ulps(c, rc), u);
    ws.add(ulps(s, rs), u);
  };
  for (std::uint32_t j = 0; j < (1u << 24); ++j)  // [0, 1): Box-Muller's u2
    check(static_cast<float>(j) * (1.0f / 16777216.0f));
  MESSAGE("cos_sin_2pi on [0, 1): cos " << wc.ulps << " ulp (at " << wc.at << "), sin " << ws.ulps
                                        << " ulp (at " << ws.at << ")");
  CHECK(wc.ulps <= 1.6);
  CHECK(ws.ulps <= 1.6);
  std::mt19937 gen(2);
  std::uniform_real_distribution<float> big(-4194304.0f, 4194304.0f), unit(-1.0f, 1.0f);
  for (int i = 0; i < 2000000; ++i) check(i % 2 ? big(gen) : unit(gen));
  MESSAGE("cos_sin_2pi on |u| < 2^22: cos " << wc.ulps << " ulp, sin " << ws.ulps << " ulp");
  CHECK(wc.ulps <= 1.6);
  CHECK(ws.ulps <= 1.6);
  // Quarter turns are exact.
  const float quarters[] = {0.0f, 0.25f, 0.5f, 0.75f, -0.25f};
  const float want_c[] = {1, 0, -1, 0, 0}, want_s[] = {0, 1, 0, -1, -1};
  for (int k = 0; k < 5; ++k) {
    float c, s;
    cos_sin_2pi(quarters[k], c, s);
    CHECK(c == want_c[k]);
    CHECK(s == want_s[k]);
  }
}

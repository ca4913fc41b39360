// SGD against torch.optim.SGD trajectories (tests/fixtures/optim/sgd.txt): momentum, nesterov,
// dampening, weight decay in no_decay groups, clip_grad_norm_, lr/momentum changed per step.
#include "kernels/optim/sgd.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include "kernels/optim/checkpoint.hpp"
#include "tests/kernels/optim/fixture_text.hpp"

using namespace ft::optim;
using ft::nn::Parameter;
using ft::nn::ParamRole;
using ft::optim::testing::FixtureCase;
using ft::optim::testing::values_at;

namespace {

ParamRole role_of(const std::string& r) {
  if (r == "bias") return ParamRole::bias;
  if (r == "norm") return ParamRole::norm;
  return ParamRole::weight;
}

std::vector<float> to_float(const std::vector<double>& v) { return {v.begin(), v.end()}; }

struct Model {
  std::vector<std::unique_ptr<Parameter>> owned;
  std::vector<Parameter*> ptrs;
  Parameter& by_name(const std::string& n) {
    for (auto& p : owned)
      if (p->name == n) return *p;
    throw std::runtime_error("no param " + n);
  }
};

Model model_from(const FixtureCase& c) {
  Model m;
  for (const auto& tok : c.lines) {
    if (tok[0] == "param") {
      auto p = std::make_unique<Parameter>();
      p->name = tok[1];
      p->role = role_of(tok[2]);
      const std::size_t nd = std::stoul(tok[3]);
      for (std::size_t i = 0; i < nd; ++i) p->shape.push_back(std::stoll(tok[4 + i]));
      m.ptrs.push_back(p.get());
      m.owned.push_back(std::move(p));
    } else if (tok[0] == "init") {
      Parameter& p = m.by_name(tok[1]);
      p.value = to_float(values_at(tok, 2));
      p.grad.assign(p.value.size(), 0.0f);
    }
  }
  return m;
}

SgdOptions options_from(const FixtureCase& c) {
  SgdOptions o;
  o.lr = c.num("lr");
  o.momentum = c.num("momentum", 0.0);
  o.dampening = c.num("dampening", 0.0);
  o.nesterov = c.num("nesterov", 0) != 0;
  o.weight_decay = c.num("weight_decay", 0.0);
  o.no_decay_bias = c.num("no_decay_bias", 0) != 0;
  o.no_decay_norm = c.num("no_decay_norm", 0) != 0;
  o.max_grad_norm = c.num("max_grad_norm", 0.0);
  return o;
}

// Float32 updates: torch's vectorised add uses fused multiply-adds, our -march=x86-64-v2 build
// does not, so each op may differ by an ulp; over 5 steps on O(1) values that stays below 2e-6.
constexpr double kAbs = 2e-6, kRel = 2e-6;

int compare(const std::string& what, const std::vector<float>& got,
            const std::vector<double>& want) {
  int bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::fabs(got[i] - want[i]) > kAbs + kRel * std::fabs(want[i]) && bad++ < 3)
      std::printf(
          "%s[%zu]: %.9g, torch %.9g (regenerate: /usr/bin/python3 tools/make_optim_fixtures.py)\n",
          what.c_str(), i, got[i], want[i]);
  }
  return bad;
}

}  // namespace

TEST_CASE("SGD equals torch.optim.SGD step by step") {
  const auto cases = ft::optim::testing::read_fixture("sgd.txt");
  REQUIRE(cases.size() >= 7);
  double max_err = 0.0;
  for (const FixtureCase& c : cases) {
    CAPTURE(c.name);
    Model m = model_from(c);
    Sgd sgd(m.ptrs, options_from(c));
    int bad = 0;
    int step = -1;
    for (const auto& tok : c.lines) {
      const std::string& tag = tok[0];
      if (tag == "hyper") {
        sgd.set_lr(std::stod(tok[2]));
        sgd.set_momentum(std::stod(tok[3]));
      } else if (tag == "grad") {
        m.by_name(tok[2]).grad = to_float(values_at(tok, 3));
      } else if (tag == "after" || tag == "norm") {
        const int s = std::stoi(tok[1]);
        if (s != step) {  // first record of a step: the grads are complete, run it
          sgd.step();
          step = s;
        }
        if (tag == "norm") {
          CHECK(sgd.last_grad_norm() == doctest::Approx(std::stod(tok[2])).epsilon(1e-6));
          continue;
        }
        const auto want = values_at(tok, 3);
        const Parameter& p = m.by_name(tok[2]);
        bad += compare(c.name + " step " + tok[1] + " " + p.name, p.value, want);
        for (std::size_t i = 0; i < want.size(); ++i)
          max_err = std::max(max_err, std::fabs(p.value[i] - want[i]));
      } else if (tag == "buffer") {
        Checkpoint ck;
        sgd.save_state(ck);
        bad += compare(c.name + " momentum buffer " + tok[1],
                       ck.tensor("optim.momentum_buffer." + tok[1]).data, values_at(tok, 2));
      }
    }
    CHECK(sgd.step_count() == static_cast<std::int64_t>(c.num("steps")));
    CHECK(bad == 0);
  }
  MESSAGE("max |ours - torch| over all SGD fixtures: " << max_err);
}

TEST_CASE("clip_grad_norm scales only above the threshold") {
  Parameter a{"a", {2}, ParamRole::weight, {0, 0}, {3, 4}};
  Parameter b{"b", {1}, ParamRole::bias, {0}, {12}};
  std::vector<Parameter*> ps{&a, &b};
  CHECK(clip_grad_norm(ps, 100.0) == doctest::Approx(13.0));
  CHECK(a.grad[0] == 3.0f);  // total 13 < 100: untouched
  CHECK(clip_grad_norm(ps, 1.3) == doctest::Approx(13.0));
  CHECK(a.grad[0] == doctest::Approx(0.3).epsilon(1e-6));
  CHECK(b.grad[0] == doctest::Approx(1.2).epsilon(1e-6));
}

TEST_CASE("SGD options describe themselves for checkpoint metadata") {
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.nesterov = true;
  o.weight_decay = 5e-4;
  o.no_decay_bias = o.no_decay_norm = true;
  CHECK(describe(o) ==
        "sgd(lr=0.1, momentum=0.9, dampening=0, nesterov=true, weight_decay=0.0005, "
        "no_decay=[bias, norm], max_grad_norm=0)");
}

TEST_CASE("SGD options are validated as torch does") {
  Parameter a{"a", {1}, ParamRole::weight, {0}, {0}};
  SgdOptions o;
  o.nesterov = true;
  CHECK_THROWS_WITH_AS(Sgd({&a}, o), doctest::Contains("nesterov requires momentum > 0"),
                       std::invalid_argument);
  o = {};
  o.lr = -1;
  CHECK_THROWS_AS(Sgd({&a}, o), std::invalid_argument);
  Parameter bad{"bad", {2}, ParamRole::weight, {0, 0}, {0}};
  CHECK_THROWS_WITH_AS(Sgd({&bad}, SgdOptions{}),
                       doctest::Contains("'bad' has 2 values but 1 gradients"),
                       std::invalid_argument);
  // One optimizer updates parameters on one device: a GPU parameter among host ones is refused
  // (the device pointers are only compared, never dereferenced here).
  float fake[2];
  Parameter gpu{"gpu", {1}, ParamRole::weight, {0}, {0}, &fake[0], &fake[1]};
  CHECK_THROWS_WITH_AS(Sgd({&a, &gpu}, SgdOptions{}),
                       doctest::Contains("some parameters are on the GPU and some are not"),
                       std::invalid_argument);
}

TEST_CASE("SGD state restores exactly: resumed run equals uninterrupted run bit for bit") {
  auto make = [] {
    std::vector<Parameter> ps(2);
    ps[0] = {"w", {3}, ParamRole::weight, {0.5f, -1.0f, 2.0f}, {0, 0, 0}};
    ps[1] = {"b", {1}, ParamRole::bias, {0.1f}, {0}};
    return ps;
  };
  SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  o.nesterov = true;
  o.weight_decay = 0.01;
  o.no_decay_bias = true;
  auto grads = [](std::vector<Parameter>& ps, int s) {
    for (std::size_t i = 0; i < 3; ++i) ps[0].grad[i] = std::sin(1.0f + s * 3 + i);
    ps[1].grad[0] = std::cos(0.5f * s);
  };
  auto full = make();
  Sgd a({&full[0], &full[1]}, o);
  for (int s = 0; s < 6; ++s) {
    grads(full, s);
    a.step();
  }
  auto first = make();
  Sgd b({&first[0], &first[1]}, o);
  for (int s = 0; s < 3; ++s) {
    grads(first, s);
    b.step();
  }
  Checkpoint ck;
  b.save_state(ck);
  pack_model(ck, {&first[0], &first[1]}, {});
  auto resumed = make();
  Sgd c({&resumed[0], &resumed[1]}, o);
  unpack_model(ck, {&resumed[0], &resumed[1]}, {});
  c.load_state(ck);
  CHECK(c.step_count() == 3);
  for (int s = 3; s < 6; ++s) {
    grads(resumed, s);
    c.step();
  }
  CHECK(resumed[0].value == full[0].value);
  CHECK(resumed[1].value == full[1].value);
}

TEST_CASE("SGD state with the wrong shape is rejected naming both shapes") {
  Parameter w{"w", {3}, ParamRole::weight, {0, 0, 0}, {1, 1, 1}};
  SgdOptions o;
  o.momentum = 0.9;
  Sgd sgd({&w}, o);
  Checkpoint ck;
  ck.source = "x.ckpt";
  ck.ints["optim.step"] = 1;
  ck.tensors["optim.momentum_buffer.w"] = {{4}, {0, 0, 0, 0}};
  CHECK_THROWS_WITH_AS(
      sgd.load_state(ck),
      doctest::Contains(
          "x.ckpt: momentum buffer of 'w' has shape [4] but the parameter has shape [3]"),
      std::runtime_error);
  ck.tensors.clear();
  ck.tensors["optim.momentum_buffer.v"] = {{3}, {0, 0, 0}};
  CHECK_THROWS_WITH_AS(sgd.load_state(ck), doctest::Contains("'v', which the model does not have"),
                       std::runtime_error);
}

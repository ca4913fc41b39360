// Every schedule against torch.optim.lr_scheduler (1.13) values committed in
// tests/fixtures/optim/schedules.txt, plus the table for `flowtrain schedule` and spec errors.
#include "kernels/optim/schedule.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "tests/kernels/optim/fixture_text.hpp"

using namespace ft::optim;
using ft::optim::testing::FixtureCase;

namespace {

ScheduleSpec spec_from(const FixtureCase& c) {
  ScheduleSpec s;
  s.kind = parse_schedule_kind(c.str("kind"));
  if (c.has("step_size")) s.step_size = std::stoll(c.str("step_size"));
  if (c.has("milestones")) {
    std::string m = c.str("milestones");
    for (std::size_t pos = 0; pos <= m.size();) {
      const std::size_t comma = std::min(m.find(',', pos), m.size());
      s.milestones.push_back(std::stoll(m.substr(pos, comma - pos)));
      pos = comma + 1;
    }
  }
  if (c.has("gamma")) s.gamma = c.num("gamma");
  s.t_max = static_cast<std::int64_t>(c.num("t_max", 0));
  s.eta_min = c.num("eta_min", 0.0);
  s.t_0 = static_cast<std::int64_t>(c.num("t_0", 0));
  s.t_mult = static_cast<std::int64_t>(c.num("t_mult", 1));
  if (c.has("base_lr")) s.base_lr = c.num("base_lr");
  if (c.has("max_lr")) s.max_lr = c.num("max_lr");
  s.step_size_up = c.num("step_size_up", 2000);
  if (c.has("step_size_down")) s.step_size_down = c.num("step_size_down");
  if (c.has("mode")) s.mode = parse_cyclic_mode(c.str("mode"));
  s.cycle_momentum = c.num("cycle_momentum", 1) != 0;
  if (c.has("base_momentum")) s.base_momentum = c.num("base_momentum");
  if (c.has("max_momentum")) s.max_momentum = c.num("max_momentum");
  s.onecycle_total_steps = static_cast<std::int64_t>(c.num("onecycle_total_steps", 0));
  s.pct_start = c.num("pct_start", 0.3);
  if (c.has("anneal")) s.anneal = parse_anneal(c.str("anneal"));
  s.div_factor = c.num("div_factor", 25.0);
  s.final_div_factor = c.num("final_div_factor", 1e4);
  s.three_phase = c.num("three_phase", 0) != 0;
  s.warmup_steps = static_cast<std::int64_t>(c.num("warmup_steps", 0));
  s.warmup_start_factor = c.num("warmup_start_factor", 1.0 / 3.0);
  return s;
}

// torch's chainable forms (StepLR, LinearLR, CosineAnnealingLR, ...) update the lr recursively in
// double; they drift from the closed form by a few ulps per step, far below 1e-12 relative here.
bool close(double got, double want) {
  return std::fabs(got - want) <= 1e-12 + 1e-10 * std::fabs(want);
}

}  // namespace

TEST_CASE("every schedule equals torch.optim.lr_scheduler's values") {
  const auto cases = ft::optim::testing::read_fixture("schedules.txt");
  REQUIRE(cases.size() >= 20);
  for (const FixtureCase& c : cases) {
    CAPTURE(c.name);
    const Schedule s = make_schedule(spec_from(c), c.num("opt_lr"), c.num("opt_momentum"),
                                     static_cast<std::int64_t>(c.num("total_steps")));
    const auto lr = ft::optim::testing::values_at(c.lines.at(0), 1);
    const auto mom = ft::optim::testing::values_at(c.lines.at(1), 1);
    REQUIRE(lr.size() == static_cast<std::size_t>(c.num("total_steps")));
    int bad = 0;
    for (std::size_t t = 0; t < lr.size(); ++t) {
      const double got = s.lr(static_cast<std::int64_t>(t));
      if (!close(got, lr[t]) && bad++ < 5)
        std::printf(
            "%s step %zu: lr %.17g, torch %.17g (regenerate: /usr/bin/python3 "
            "tools/make_optim_fixtures.py)\n",
            c.name.c_str(), t, got, lr[t]);
      const auto m = s.momentum(static_cast<std::int64_t>(t));
      if (mom.empty()) {
        if (m.has_value() && bad++ < 5)
          std::printf("%s: momentum cycled, torch does not\n", c.name.c_str());
      } else if (!m.has_value() || !close(*m, mom[t])) {
        if (bad++ < 5)
          std::printf("%s step %zu: momentum %.17g, torch %.17g\n", c.name.c_str(), t,
                      m.value_or(-1.0), mom[t]);
      }
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("defaults resolve from total steps and warmup") {
  ScheduleSpec spec;
  spec.kind = ScheduleKind::cosine;
  spec.warmup_steps = 10;
  const Schedule s = make_schedule(spec, 0.5, 0.9, 110);
  CHECK(s.spec().t_max == 100);  // the main schedule spans total - warmup
  CHECK(s.lr(10) == doctest::Approx(0.5));
  CHECK(s.lr(110) == doctest::Approx(0.0).epsilon(1e-12));
  CHECK_FALSE(s.momentum(5).has_value());
  CHECK(s.describe() ==
        "warmup(steps=10, start_factor=0.333333) -> cosine(lr=0.5, T_max=100, eta_min=0)");

  ScheduleSpec one;
  one.kind = ScheduleKind::onecycle;
  const Schedule o = make_schedule(one, 0.2, 0.9, 50);
  CHECK(o.spec().onecycle_total_steps == 50);
  CHECK(*o.spec().max_lr == 0.2);  // max_lr defaults to the optimizer's lr
  CHECK(o.lr(0) == doctest::Approx(0.2 / 25));
  CHECK(o.lr(1000) == o.lr(50));  // held past the end instead of torch's ValueError
}

TEST_CASE("invalid specs name the field") {
  auto message = [](ScheduleSpec spec, std::int64_t total) {
    try {
      make_schedule(spec, 0.1, 0.9, total);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  ScheduleSpec s;
  s.kind = ScheduleKind::step;
  CHECK(message(s, 10).find("step_size must be > 0") != std::string::npos);
  s.kind = ScheduleKind::cosine;
  s.warmup_steps = 10;
  CHECK(message(s, 10).find("T_max must be > 0") != std::string::npos);
  s = {};
  s.kind = ScheduleKind::cyclic;
  CHECK(message(s, 10).find("max_lr is required") != std::string::npos);
  s.kind = ScheduleKind::exponential;
  CHECK(message(s, 10).find("gamma is required") != std::string::npos);
  s.kind = ScheduleKind::cosine_restarts;
  CHECK(message(s, 10).find("T_0 must be > 0") != std::string::npos);
  s.kind = ScheduleKind::onecycle;
  s.pct_start = 0.5;  // phase 1 ends at 0.5 * 2 - 1 = 0: torch divides by zero there
  CHECK(message(s, 2).find("zero length") != std::string::npos);
  CHECK_THROWS_WITH_AS(parse_schedule_kind("cosin"),
                       doctest::Contains("known: constant, step, multistep"),
                       std::invalid_argument);
}

TEST_CASE("schedule table rows: per epoch and per iteration") {
  ScheduleSpec spec;
  spec.kind = ScheduleKind::step;
  spec.step_size = 1;
  spec.gamma = 0.5;
  const std::int64_t epochs = 3, iters = 4;

  // Stepped per epoch: every iteration of epoch e uses lr(e).
  const Schedule per_epoch = make_schedule(spec, 1.0, 0.9, schedule_steps(epochs, iters, false));
  auto rows = schedule_table(per_epoch, epochs, iters, false, false);
  REQUIRE(rows.size() == 3);
  CHECK(rows[2].epoch == 2);
  CHECK(rows[2].step == 8);
  CHECK(rows[2].lr == 0.25);
  rows = schedule_table(per_epoch, epochs, iters, false, true);
  REQUIRE(rows.size() == 12);
  CHECK(rows[7].lr == 0.5);

  // Stepped per iteration: global iteration k uses lr(k).
  const Schedule per_iter = make_schedule(spec, 1.0, 0.9, schedule_steps(epochs, iters, true));
  rows = schedule_table(per_iter, epochs, iters, true, true);
  REQUIRE(rows.size() == 12);
  CHECK(rows[5].epoch == 1);
  CHECK(rows[5].lr == std::pow(0.5, 5));
  CHECK_FALSE(rows[5].momentum.has_value());
}

TEST_CASE("values that make no learning rate are refused before the run's length is known") {
  auto message = [](ScheduleSpec spec, double lr = 0.1) {
    try {
      check_schedule_spec(spec, lr);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ScheduleSpec s;
  s.kind = ScheduleKind::onecycle;
  s.div_factor = 0;  // initial lr = max_lr / 0 = inf
  CHECK(message(s).find("div_factor must be finite and > 0, got 0") != std::string::npos);
  s.div_factor = 25;
  s.final_div_factor = 0;
  CHECK(message(s).find("final_div_factor must be finite and > 0") != std::string::npos);
  s = {};
  s.kind = ScheduleKind::step;
  s.step_size = 1;
  s.gamma = inf;
  CHECK(message(s).find("gamma must be finite and > 0, got inf") != std::string::npos);
  s.gamma = 0.0;
  CHECK(message(s).find("gamma must be finite and > 0, got 0") != std::string::npos);
  s.gamma = nan;
  CHECK(message(s).find("gamma must be finite") != std::string::npos);
  s = {};
  CHECK(message(s, nan).find("lr must be finite and >= 0") != std::string::npos);
  CHECK(message(s, inf).find("lr must be finite and >= 0") != std::string::npos);
  s.warmup_start_factor = 0;  // torch.optim.lr_scheduler.LinearLR refuses 0 too
  CHECK(message(s).find("warmup start_factor must be in (0, 1], got 0") != std::string::npos);
  s.warmup_start_factor = nan;
  CHECK(message(s).find("warmup start_factor must be in (0, 1]") != std::string::npos);
  s = {};
  s.kind = ScheduleKind::cosine_restarts;
  s.t_0 = 5;
  s.t_mult = 0;
  CHECK(message(s).find("T_mult must be >= 1, got 0") != std::string::npos);
  s = {};
  s.kind = ScheduleKind::cosine;
  s.eta_min = nan;
  CHECK(message(s).find("eta_min must be finite") != std::string::npos);
  s = {};
  s.kind = ScheduleKind::cyclic;
  s.max_lr = 0.5;
  s.step_size_up = inf;
  CHECK(message(s).find("step_size_up must be finite and > 0") != std::string::npos);
  s = {};
  s.kind = ScheduleKind::onecycle;
  s.pct_start = nan;
  CHECK(message(s).find("pct_start must be in [0, 1]") != std::string::npos);
  // The same checks run inside make_schedule.
  s = {};
  s.kind = ScheduleKind::exponential;
  s.gamma = inf;
  CHECK_THROWS_WITH_AS(make_schedule(s, 0.1, 0.9, 10), doctest::Contains("gamma must be finite"),
                       std::invalid_argument);
}

TEST_CASE("a schedule whose learning rate overflows during the run is refused, naming the step") {
  ScheduleSpec s;
  s.kind = ScheduleKind::exponential;
  s.gamma = 2.0;  // 0.1 * 2^t passes DBL_MAX near t = 1027
  CHECK_NOTHROW(make_schedule(s, 0.1, 0.9, 1000));
  CHECK_THROWS_WITH_AS(make_schedule(s, 0.1, 0.9, 2000),
                       doctest::Contains("the learning rate is inf at scheduler step 1024 of 2000"),
                       std::invalid_argument);
  // exp_range grows between the cycle ends: the peaks overflow first, not the last step.
  ScheduleSpec c;
  c.kind = ScheduleKind::cyclic;
  c.mode = CyclicMode::exp_range;
  c.max_lr = 1.0;
  c.gamma = 4.0;
  c.step_size_up = 600;
  CHECK_THROWS_WITH_AS(make_schedule(c, 0.1, 0.9, 1200),
                       doctest::Contains("the learning rate is inf"), std::invalid_argument);
}

TEST_CASE("which schedules follow the run's length") {
  ScheduleSpec s;
  s.kind = ScheduleKind::cosine;
  CHECK(schedule_follows_run_length(s));
  s.t_max = 10;
  CHECK_FALSE(schedule_follows_run_length(s));
  s = {};
  s.kind = ScheduleKind::onecycle;
  CHECK(schedule_follows_run_length(s));
  s.onecycle_total_steps = 100;
  CHECK_FALSE(schedule_follows_run_length(s));
  s = {};
  s.kind = ScheduleKind::multistep;
  CHECK_FALSE(schedule_follows_run_length(s));
}

TEST_CASE("cosine_restarts with a huge T_mult ends (the cycle length no longer overflows)") {
  // Found by tests/fuzz: T_i *= T_mult overflowed int64 and the restart loop never ended.
  ScheduleSpec s;
  s.kind = ScheduleKind::cosine_restarts;
  s.t_0 = 30;
  s.t_mult = std::numeric_limits<std::int64_t>::max();
  const Schedule sched = make_schedule(s, 0.1, 0.9, 300);  // evaluates every step
  CHECK(sched.lr(0) == doctest::Approx(0.1));
  CHECK(sched.lr(30) == doctest::Approx(0.1));  // the restart
  CHECK(std::isfinite(sched.lr(299)));
  CHECK(sched.lr(299) == doctest::Approx(0.1).epsilon(1e-9));  // 269 steps into a ~2^68 cycle
}

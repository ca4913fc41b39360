// Config keys for the optimizer and schedule: setters, type errors and unknown keys.
#include "kernels/optim/config_fields.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <stdexcept>

using namespace ft::optim;

TEST_CASE("optimizer keys set SgdOptions") {
  SgdOptions o;
  set_sgd_field(o, "kind", std::string("sgd"));
  set_sgd_field(o, "lr", std::int64_t{1});  // integers are accepted where a number is expected
  set_sgd_field(o, "momentum", 0.9);
  set_sgd_field(o, "nesterov", true);
  set_sgd_field(o, "weight_decay", 5e-4);
  set_sgd_field(o, "no_decay", std::vector<std::string>{"bias", "batchnorm"});
  set_sgd_field(o, "max_grad_norm", 2.0);
  CHECK(o.lr == 1.0);
  CHECK(o.momentum == 0.9);
  CHECK(o.nesterov);
  CHECK(o.no_decay_bias);
  CHECK(o.no_decay_norm);
  CHECK(o.max_grad_norm == 2.0);
  CHECK_THROWS_WITH_AS(set_sgd_field(o, "nesterov", 1.0),
                       "optimizer key 'nesterov' expects a bool, got a number",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_sgd_field(o, "kind", std::string("adam")),
                       "unknown optimizer kind 'adam' (known: sgd)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_sgd_field(o, "no_decay", std::vector<std::string>{"weights"}),
                       doctest::Contains("unknown role 'weights'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_sgd_field(o, "lrr", 0.1),
                       doctest::Contains("unknown optimizer key 'lrr' (known: kind, lr, momentum"),
                       std::invalid_argument);
}

TEST_CASE("schedule keys set ScheduleSpec; every documented key is settable") {
  ScheduleSpec s;
  set_schedule_field(s, "kind", std::string("cyclic"));
  set_schedule_field(s, "mode", std::string("exp_range"));
  set_schedule_field(s, "max_lr", 0.5);
  set_schedule_field(s, "step_size_up", std::int64_t{10});
  set_schedule_field(s, "milestones", std::vector<std::int64_t>{3, 6});
  set_schedule_field(s, "anneal_strategy", std::string("linear"));
  CHECK(s.kind == ScheduleKind::cyclic);
  CHECK(s.mode == CyclicMode::exp_range);
  CHECK(*s.max_lr == 0.5);
  CHECK(s.step_size_up == 10.0);
  CHECK(s.milestones == std::vector<std::int64_t>{3, 6});
  CHECK(s.anneal == Anneal::linear);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "T_max", 2.5),
                       "schedule key 'T_max' expects an integer, got a number",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "mode", std::string("square")),
                       doctest::Contains("unknown cyclic mode 'square'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "tmax", std::int64_t{3}),
                       doctest::Contains("unknown schedule key 'tmax' (known: kind, step_size"),
                       std::invalid_argument);

  for (const FieldDoc& f : schedule_fields()) {
    CAPTURE(f.key);
    const std::string type = f.type;
    FieldValue v = type == "int"        ? FieldValue{std::int64_t{2}}
                   : type == "float"    ? FieldValue{0.5}
                   : type == "bool"     ? FieldValue{true}
                   : type == "int list" ? FieldValue{std::vector<std::int64_t>{1}}
                                        : FieldValue{std::string("x")};
    if (std::string(f.key) == "kind") v = std::string("cosine");
    if (std::string(f.key) == "mode") v = std::string("triangular2");
    if (std::string(f.key) == "anneal_strategy") v = std::string("cos");
    CHECK_NOTHROW(set_schedule_field(s, f.key, v));
  }
  SgdOptions o;
  for (const FieldDoc& f : sgd_fields()) {
    CAPTURE(f.key);
    const std::string type = f.type;
    FieldValue v = type == "float"         ? FieldValue{0.5}
                   : type == "bool"        ? FieldValue{false}
                   : type == "string list" ? FieldValue{std::vector<std::string>{"bias"}}
                                           : FieldValue{std::string("sgd")};
    CHECK_NOTHROW(set_sgd_field(o, f.key, v));
  }
}

TEST_CASE("keys refuse values that are not finite or make no learning rate, naming the key") {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  SgdOptions o;
  CHECK_THROWS_WITH_AS(set_sgd_field(o, "lr", nan),
                       doctest::Contains("optimizer key 'lr' must be finite and >= 0"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_sgd_field(o, "lr", inf), doctest::Contains("got inf"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_sgd_field(o, "momentum", -0.5),
                       doctest::Contains("optimizer key 'momentum' must be finite and >= 0"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_sgd_field(o, "dampening", inf),
                       doctest::Contains("optimizer key 'dampening' must be finite"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_sgd_field(o, "max_grad_norm", inf),
                       doctest::Contains("(0 = no clipping)"), std::invalid_argument);
  CHECK(o.lr == SgdOptions{}.lr);  // a refused value leaves the options as they were

  ScheduleSpec s;
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "div_factor", 0.0),
                       "schedule key 'div_factor' must be finite and > 0 (initial lr = max_lr / "
                       "div_factor), got 0",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "final_div_factor", std::int64_t{0}),
                       doctest::Contains("'final_div_factor' must be finite and > 0"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "gamma", inf),
                       doctest::Contains("'gamma' must be finite and > 0, got inf"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "gamma", 0.0), doctest::Contains("got 0"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "step_size", std::int64_t{0}),
                       "schedule key 'step_size' must be >= 1, got 0", std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "T_0", std::int64_t{0}),
                       doctest::Contains("'T_0' must be >= 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "T_mult", std::int64_t{0}),
                       doctest::Contains("'T_mult' must be >= 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "T_max", std::int64_t{0}),
                       doctest::Contains("leave it out for the main schedule's length"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "total_steps", std::int64_t{0}),
                       doctest::Contains("'total_steps' must be >= 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "eta_min", nan),
                       doctest::Contains("'eta_min' must be finite"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "max_lr", inf),
                       doctest::Contains("'max_lr' must be finite"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "step_size_up", 0.0),
                       doctest::Contains("'step_size_up' must be finite and > 0"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "pct_start", 1.5),
                       doctest::Contains("'pct_start' must be in [0, 1]"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "pct_start", nan),
                       doctest::Contains("'pct_start' must be finite"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(set_schedule_field(s, "milestones", std::vector<std::int64_t>{-1, 3}),
                       doctest::Contains("steps >= 0, got -1"), std::invalid_argument);
}

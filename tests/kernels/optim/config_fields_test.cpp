// Config keys for the optimizer and schedule: setters, type errors and unknown keys.
#include "kernels/optim/config_fields.hpp"

#include <doctest/doctest.h>

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

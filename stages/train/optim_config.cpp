// [optimizer] and [schedule]: schemas, cross-key checks and readers (see optim_config.hpp).
#include "stages/train/optim_config.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "pipeline/error.hpp"

namespace ft {

namespace {

using T = ParamType;

const std::vector<std::string> kCyclic{"cyclic"}, kOnecycle{"onecycle"},
    kCycles{"cyclic", "onecycle"};

std::vector<ParamSpec> optimizer_params() {
  return {
      {.name = "kind",
       .type = T::string,
       .doc = "optimizer; only \"sgd\" (torch.optim.SGD's update rule)",
       .default_value = "\"sgd\"",
       .choices = {"sgd"}},
      {.name = "lr",
       .type = T::number,
       .doc = "base learning rate (schedules scale or replace it)",
       .default_value = "0.01",
       .min = 0.0},
      {.name = "momentum",
       .type = T::number,
       .doc = "momentum factor; the buffer starts as the first gradient",
       .default_value = "0.0",
       .min = 0.0},
      {.name = "dampening",
       .type = T::number,
       .doc = "dampening of the momentum's gradient term",
       .default_value = "0.0",
       .min = 0.0},
      {.name = "nesterov",
       .type = T::boolean,
       .doc = "Nesterov momentum (needs momentum > 0, dampening 0)",
       .default_value = "false"},
      {.name = "weight_decay",
       .type = T::number,
       .doc = "L2 penalty added to the gradient",
       .default_value = "0.0",
       .min = 0.0},
      {.name = "no_decay",
       .type = T::string_list,
       .doc = "parameter roles without weight decay: \"bias\", \"norm\" (batch-norm weight and "
              "bias; \"batchnorm\" is the same)",
       .default_value = "[]",
       .choices = {"bias", "norm", "batchnorm"}},
      {.name = "max_grad_norm",
       .type = T::number,
       .doc = "clip gradients to this global 2-norm; 0 = off",
       .default_value = "0.0",
       .min = 0.0},
  };
}

std::vector<ParamSpec> schedule_params() {
  return {
      {.name = "per",
       .type = T::string,
       .doc = "step the schedule per iteration or per epoch (lengths in that unit)",
       .default_value = "\"step\"",
       .choices = {"step", "epoch"}},
      {.name = "warmup_epochs",
       .type = T::number,
       .doc = "linear warmup length in epochs",
       .default_value = "0.0",
       .min = 0.0},
      {.name = "warmup_steps",
       .type = T::integer,
       .doc = "linear warmup length in scheduler steps",
       .default_value = "0",
       .min = 0.0},
      {.name = "warmup_start_factor",
       .type = T::number,
       .doc = "warmup starts at lr x this (torch's LinearLR refuses 0)",
       .default_value = "0.3333333333333333",
       .min = 0.0,
       .max = 1.0,
       .min_exclusive = true},
      {.name = "kind",
       .type = T::string,
       .doc = "the main schedule (torch.optim.lr_scheduler)",
       .default_value = "\"constant\"",
       .choices = optim::schedule_kind_names()},
      {.name = "step_size",
       .type = T::integer,
       .doc = "decay every step_size scheduler steps",
       .optional = true,
       .min = 1.0,
       .applies = {"step"}},
      {.name = "milestones",
       .type = T::integer_list,
       .doc = "scheduler steps at which to decay, strictly increasing",
       .optional = true,
       .min = 0.0,
       .applies = {"multistep"}},
      {.name = "gamma",
       .type = T::number,
       .doc = "decay factor (cyclic exp_range: per-step scale) (default: 0.1; cyclic: 1.0; "
              "exponential: required)",
       .optional = true,
       .min = 0.0,
       .min_exclusive = true,
       .applies = {"step", "multistep", "exponential", "cyclic"}},
      {.name = "T_max",
       .type = T::integer,
       .doc = "half period of the cosine (default: the main schedule's length)",
       .optional = true,
       .min = 1.0,
       .applies = {"cosine"}},
      {.name = "eta_min",
       .type = T::number,
       .doc = "lowest learning rate",
       .default_value = "0.0",
       .min = 0.0,
       .applies = {"cosine", "cosine_restarts"}},
      {.name = "T_0",
       .type = T::integer,
       .doc = "length of the first cycle (required)",
       .optional = true,
       .min = 1.0,
       .applies = {"cosine_restarts"}},
      {.name = "T_mult",
       .type = T::integer,
       .doc = "cycle length growth factor",
       .default_value = "1",
       .min = 1.0,
       .applies = {"cosine_restarts"}},
      {.name = "base_lr",
       .type = T::number,
       .doc = "lower bound of the cycle (default: the optimizer's lr)",
       .optional = true,
       .min = 0.0,
       .applies = kCyclic},
      {.name = "max_lr",
       .type = T::number,
       .doc = "peak learning rate (cyclic: required; onecycle: default the optimizer's lr)",
       .optional = true,
       .min = 0.0,
       .applies = kCycles},
      {.name = "step_size_up",
       .type = T::integer,
       .doc = "steps of the rising half",
       .default_value = "2000",
       .min = 1.0,
       .applies = kCyclic},
      {.name = "step_size_down",
       .type = T::integer,
       .doc = "steps of the falling half (default: step_size_up)",
       .optional = true,
       .min = 1.0,
       .applies = kCyclic},
      {.name = "mode",
       .type = T::string,
       .doc = "cyclic's amplitude policy",
       .default_value = "\"triangular\"",
       .choices = optim::cyclic_mode_names(),
       .applies = kCyclic},
      {.name = "cycle_momentum",
       .type = T::boolean,
       .doc = "cycle momentum inversely to the lr",
       .default_value = "true",
       .applies = kCycles},
      {.name = "base_momentum",
       .type = T::number,
       .doc = "lowest momentum (default: 0.8; onecycle: 0.85)",
       .optional = true,
       .min = 0.0,
       .applies = kCycles},
      {.name = "max_momentum",
       .type = T::number,
       .doc = "highest momentum (default: 0.9; onecycle: 0.95)",
       .optional = true,
       .min = 0.0,
       .applies = kCycles},
      {.name = "total_steps",
       .type = T::integer,
       .doc = "length of the cycle (default: the main schedule's length)",
       .optional = true,
       .min = 1.0,
       .applies = kOnecycle},
      {.name = "pct_start",
       .type = T::number,
       .doc = "fraction of the cycle spent rising",
       .default_value = "0.3",
       .min = 0.0,
       .max = 1.0,
       .applies = kOnecycle},
      {.name = "anneal_strategy",
       .type = T::string,
       .doc = "shape of onecycle's phases",
       .default_value = "\"cos\"",
       .choices = optim::anneal_names(),
       .applies = kOnecycle},
      {.name = "div_factor",
       .type = T::number,
       .doc = "initial lr = max_lr / div_factor",
       .default_value = "25.0",
       .min = 0.0,
       .min_exclusive = true,
       .applies = kOnecycle},
      {.name = "final_div_factor",
       .type = T::number,
       .doc = "final lr = initial lr / final_div_factor",
       .default_value = "1e4",
       .min = 0.0,
       .min_exclusive = true,
       .applies = kOnecycle},
      {.name = "three_phase",
       .type = T::boolean,
       .doc = "fall back to the initial lr before annealing",
       .default_value = "false",
       .applies = kOnecycle},
  };
}

const SectionSchema& optimizer_schema() {
  static const SectionSchema s = optimizer_section();
  return s;
}

const SectionSchema& schedule_schema() {
  static const SectionSchema s = schedule_section();
  return s;
}

}  // namespace

SectionSchema optimizer_section() {
  return {.name = "optimizer",
          .doc = "SGD as torch.optim.SGD (its defaults too).",
          .params = optimizer_params(),
          .check = check_optimizer};
}

SectionSchema schedule_section() {
  return {.name = "schedule",
          .doc =
              "Learning-rate schedule (torch.optim.lr_scheduler values), with an optional "
              "linear warmup.",
          .params = schedule_params(),
          .check = check_schedule};
}

void check_optimizer(const Params& p) {
  const optim::SgdOptions o = read_sgd_options(p);
  if (o.nesterov && !(o.momentum > 0.0 && o.dampening == 0.0))
    throw ConfigError(fmt::format(
        "{}: Nesterov momentum needs momentum > 0 and dampening = 0 (momentum is {}, dampening "
        "{}), as torch.optim.SGD",
        p.where("nesterov"), o.momentum, o.dampening));
  try {
    optim::Sgd no_parameters({}, o);  // its constructor's checks, should they ever grow
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: {}", p.where("kind"), e.what()));
  }
}

void check_schedule(const Params& p) {
  const std::string kind = p.get_string("kind");
  const std::vector<std::int64_t> milestones = p.get_int_list("milestones");
  for (std::size_t i = 1; i < milestones.size(); ++i)
    if (milestones[i] <= milestones[i - 1])
      throw ConfigError(fmt::format("{}: must be strictly increasing; {} follows {}",
                                    p.where("milestones"), milestones[i], milestones[i - 1]));
  const auto require = [&](const char* key, const char* why) {
    if (!p.has(key))
      throw ConfigError(
          fmt::format("{}: kind = \"{}\" needs '{}' ({})", p.where("kind"), kind, key, why));
  };
  if (kind == "step") require("step_size", "decay every step_size scheduler steps");
  if (kind == "exponential") require("gamma", "the decay factor per scheduler step");
  if (kind == "cosine_restarts") require("T_0", "the length of the first cycle");
  if (kind == "cyclic") require("max_lr", "the peak of the cycle");
  try {
    // The optimizer's lr is checked by [optimizer]'s own schema; 0 stands in for it here.
    optim::check_schedule_spec(read_schedule_spec(p), 0.0);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: {}", p.where("kind"), e.what()));
  }
}

optim::SgdOptions read_sgd_options(const Params& p) {
  optim::SgdOptions o;
  o.lr = p.get_number("lr");
  o.momentum = p.get_number("momentum");
  o.dampening = p.get_number("dampening");
  o.nesterov = p.get_bool("nesterov");
  o.weight_decay = p.get_number("weight_decay");
  o.max_grad_norm = p.get_number("max_grad_norm");
  for (const std::string& role : p.get_string_list("no_decay")) {
    if (role == "bias") o.no_decay_bias = true;
    if (role == "norm" || role == "batchnorm") o.no_decay_norm = true;
  }
  return o;
}

optim::ScheduleSpec read_schedule_spec(const Params& p) {
  optim::ScheduleSpec s;
  s.kind = optim::parse_schedule_kind(p.get_string("kind"));
  if (p.has("step_size")) s.step_size = p.get_int("step_size");
  s.milestones = p.get_int_list("milestones");
  if (p.has("gamma")) s.gamma = p.get_number("gamma");
  if (p.has("T_max")) s.t_max = p.get_int("T_max");
  s.eta_min = p.get_number("eta_min");
  if (p.has("T_0")) s.t_0 = p.get_int("T_0");
  s.t_mult = p.get_int("T_mult");
  if (p.has("base_lr")) s.base_lr = p.get_number("base_lr");
  if (p.has("max_lr")) s.max_lr = p.get_number("max_lr");
  s.step_size_up = static_cast<double>(p.get_int("step_size_up"));
  if (p.has("step_size_down")) s.step_size_down = static_cast<double>(p.get_int("step_size_down"));
  s.mode = optim::parse_cyclic_mode(p.get_string("mode"));
  s.cycle_momentum = p.get_bool("cycle_momentum");
  if (p.has("base_momentum")) s.base_momentum = p.get_number("base_momentum");
  if (p.has("max_momentum")) s.max_momentum = p.get_number("max_momentum");
  if (p.has("total_steps")) s.onecycle_total_steps = p.get_int("total_steps");
  s.pct_start = p.get_number("pct_start");
  s.anneal = optim::parse_anneal(p.get_string("anneal_strategy"));
  s.div_factor = p.get_number("div_factor");
  s.final_div_factor = p.get_number("final_div_factor");
  s.three_phase = p.get_bool("three_phase");
  s.warmup_steps = p.get_int("warmup_steps");
  s.warmup_start_factor = p.get_number("warmup_start_factor");
  return s;
}

OptimConfig read_optim_config(const toml::table& root, const std::string& file) {
  const Params optimizer =
      Params::section(root["optimizer"].as_table(), "optimizer", file, &optimizer_schema().params);
  const Params schedule =
      Params::section(root["schedule"].as_table(), "schedule", file, &schedule_schema().params);
  OptimConfig c;
  c.sgd = read_sgd_options(optimizer);
  c.schedule = read_schedule_spec(schedule);
  c.per_step = schedule.get_string("per") == "step";
  c.warmup_epochs = schedule.get_number("warmup_epochs");
  return c;
}

}  // namespace ft

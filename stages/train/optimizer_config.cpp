// [optimizer]: schema, the nesterov check and the reader (see optim_config.hpp); and
// read_optim_config, which reads both [optimizer] and [schedule].
#include <fmt/format.h>

#include <stdexcept>

#include "pipeline/error.hpp"
#include "stages/train/optim_config.hpp"

namespace ft {

namespace {

using T = ParamType;

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

const SectionSchema& optimizer_schema() {
  static const SectionSchema s = optimizer_section();
  return s;
}

}  // namespace

SectionSchema optimizer_section() {
  return {.name = "optimizer",
          .doc = "SGD as torch.optim.SGD (its defaults too).",
          .params = optimizer_params(),
          .check = check_optimizer};
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

OptimConfig read_optim_config(const toml::table& root, const std::string& file) {
  const Params optimizer =
      Params::section(root["optimizer"].as_table(), "optimizer", file, &optimizer_schema().params);
  const Params schedule = schedule_params(root, file);
  OptimConfig c;
  c.sgd = read_sgd_options(optimizer);
  c.schedule = read_schedule_spec(schedule);
  c.per_step = schedule.get_string("per") == "step";
  c.warmup_epochs = schedule.get_number("warmup_epochs");
  c.start_epoch = schedule.get_int("start_epoch");
  return c;
}

}  // namespace ft

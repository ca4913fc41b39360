// [schedule]: the checks that involve several keys, and the reader into optim::ScheduleSpec.
#include <fmt/format.h>

#include <stdexcept>

#include "pipeline/error.hpp"
#include "stages/train/optim_config.hpp"

namespace ft {

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

}  // namespace ft

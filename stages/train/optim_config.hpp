// The [optimizer] and [schedule] tables (optimizer_config.cpp, schedule_schema.cpp,
// schedule_config.cpp): their schemas (one ParamSpec per key), the checks that
// involve several keys, and the readers that turn a validated table into kernels/optim's plain
// SgdOptions and ScheduleSpec. Readers assume validation passed (validate_sections).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/optim/schedule.hpp"
#include "kernels/optim/sgd.hpp"
#include "pipeline/registry.hpp"

namespace ft {

SectionSchema optimizer_section();
SectionSchema schedule_section();

// nesterov needs momentum > 0 and dampening 0 (torch.optim.SGD).
void check_optimizer(const Params& optimizer);
// milestones strictly increasing; the keys a kind requires (step_size, gamma, T_0, max_lr); what
// optim::check_schedule_spec checks without the run's length.
void check_schedule(const Params& schedule);

optim::SgdOptions read_sgd_options(const Params& optimizer);
// warmup_steps holds the [schedule] warmup_steps key; warmup_epochs (in OptimConfig) replaces it
// once the epoch length is known.
optim::ScheduleSpec read_schedule_spec(const Params& schedule);

struct OptimConfig {
  optim::SgdOptions sgd;
  optim::ScheduleSpec schedule;
  bool per_step = true;
  double warmup_epochs = 0.0;
  std::int64_t start_epoch = 0;  // epochs of the schedule that ran before this run
};
// [schedule] of a resolved config (absent: the defaults).
Params schedule_params(const toml::table& root, const std::string& file);
// Both tables of a resolved config (absent tables take their defaults).
OptimConfig read_optim_config(const toml::table& root, const std::string& file);

}  // namespace ft

// Learning-rate (and momentum) schedules with torch.optim.lr_scheduler's values (1.13), as pure
// functions of the scheduler step index, so resuming needs only the index. The caller picks the
// unit: one scheduler step per iteration or per epoch; `total_steps` is the number of scheduler
// steps of the whole run in that unit. A linear warmup may precede any schedule (SequentialLR
// semantics: the main schedule starts from its own step 0 at step warmup_steps).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ft::optim {

enum class ScheduleKind {
  constant,
  step,
  multistep,
  exponential,
  cyclic,
  onecycle,
  cosine,
  cosine_restarts
};
enum class CyclicMode { triangular, triangular2, exp_range };
enum class Anneal { cos, linear };

// Parses the config spellings ("constant", "step", "multistep", "exponential", "cyclic",
// "onecycle", "cosine", "cosine_restarts"; "triangular"...; "cos", "linear"). Throws
// std::invalid_argument listing the known names.
ScheduleKind parse_schedule_kind(const std::string& name);
// Every spelling each parser accepts, in order (the config schema's choices).
std::vector<std::string> schedule_kind_names();
std::vector<std::string> cyclic_mode_names();
std::vector<std::string> anneal_names();
CyclicMode parse_cyclic_mode(const std::string& name);
Anneal parse_anneal(const std::string& name);
std::string to_string(ScheduleKind kind);

// Plain data; unset optionals take torch's defaults for the kind. Steps are scheduler steps.
struct ScheduleSpec {
  ScheduleKind kind = ScheduleKind::constant;

  // step: lr = base * gamma^(step / step_size); multistep: gamma^(milestones passed);
  // exponential: gamma^step. gamma defaults to 0.1 (StepLR, MultiStepLR); exponential needs it;
  // cyclic exp_range uses it per iteration (default 1.0, as CyclicLR).
  std::int64_t step_size = 0;
  std::vector<std::int64_t> milestones;
  std::optional<double> gamma;

  // cosine (CosineAnnealingLR): t_max 0 = the main schedule's length (total_steps - warmup).
  std::int64_t t_max = 0;
  double eta_min = 0.0;  // also cosine_restarts

  // cosine_restarts (CosineAnnealingWarmRestarts): t_0 required, t_mult >= 1.
  std::int64_t t_0 = 0;
  std::int64_t t_mult = 1;

  // cyclic (CyclicLR): base_lr unset = the optimizer's lr; max_lr required; step_size_down
  // unset = step_size_up.
  std::optional<double> base_lr;
  std::optional<double> max_lr;  // onecycle: unset = the optimizer's lr
  double step_size_up = 2000;
  std::optional<double> step_size_down;
  CyclicMode mode = CyclicMode::triangular;

  // cyclic and onecycle: momentum cycled inversely to the lr, between base and max momentum
  // (defaults 0.8/0.9 for cyclic, 0.85/0.95 for onecycle, as torch).
  bool cycle_momentum = true;
  std::optional<double> base_momentum;
  std::optional<double> max_momentum;

  // onecycle (OneCycleLR): onecycle_total_steps 0 = the main schedule's length.
  std::int64_t onecycle_total_steps = 0;
  double pct_start = 0.3;
  Anneal anneal = Anneal::cos;
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool three_phase = false;

  // Linear warmup (LinearLR with end_factor 1, total_iters = warmup_steps) before the main
  // schedule: lr = main.lr(0) * (start + (1 - start) * step / warmup_steps). Momentum during the
  // warmup is the main schedule's step-0 momentum (torch: set when the main one is built).
  std::int64_t warmup_steps = 0;
  double warmup_start_factor = 1.0 / 3.0;  // LinearLR's default
};

class Schedule {
 public:
  // The learning rate used for the update at scheduler step `step` (0-based: lr(0) is the lr
  // before the first scheduler.step()). Steps past the end keep the schedule's formula, except
  // onecycle, which holds its value at total_steps (torch raises there).
  double lr(std::int64_t step) const;
  // The momentum at `step` for cyclic/onecycle with cycle_momentum; nullopt otherwise (the
  // optimizer keeps its configured momentum).
  std::optional<double> momentum(std::int64_t step) const;

  const ScheduleSpec& spec() const { return spec_; }  // with defaults resolved
  double base_lr() const { return base_lr_; }
  std::int64_t total_steps() const { return total_steps_; }
  // One line, e.g. "warmup(steps=5, start_factor=0.1) -> cosine(T_max=95, eta_min=0)".
  std::string describe() const;

 private:
  friend Schedule make_schedule(const ScheduleSpec&, double, double, std::int64_t);
  double main_lr(std::int64_t t) const;
  std::optional<double> main_momentum(std::int64_t t) const;

  ScheduleSpec spec_;
  double base_lr_ = 0.0;
  double base_momentum_ = 0.0;
  std::int64_t total_steps_ = 0;
};

// The checks of make_schedule that do not need the run's length, so a config can be checked
// before its data is read: every number finite and in range (torch.optim's argument checks where
// it has them, and those that keep the learning rate finite and >= 0 where it has none:
// gamma > 0, div_factor > 0, final_div_factor > 0, step_size >= 1, T_0 >= 1, T_mult >= 1,
// warmup start_factor in (0, 1]), and the fields a kind requires. Throws std::invalid_argument
// naming the field.
void check_schedule_spec(const ScheduleSpec& spec, double base_lr);

// True when the schedule's length defaults to the run's (cosine without T_max, onecycle without
// total_steps), so changing the number of epochs changes the schedule itself.
bool schedule_follows_run_length(const ScheduleSpec& spec);

// base_lr / base_momentum: the optimizer's configured values. total_steps: scheduler steps in
// the run (epochs, or epochs * iterations per epoch); used for the defaults of cosine t_max and
// onecycle total steps, which span total_steps - warmup_steps. Throws std::invalid_argument naming
// the field on an invalid spec (check_schedule_spec, then the length-dependent checks), and when
// the learning rate or momentum is not finite at some step of the run (e.g. exponential with
// gamma > 1 overflowing; every step is checked up to 2^22 steps, the two ends beyond).
Schedule make_schedule(const ScheduleSpec& spec, double base_lr, double base_momentum,
                       std::int64_t total_steps);

// Scheduler steps in a run, and the scheduler step index for (epoch, iteration in the epoch),
// both 0-based.
std::int64_t schedule_steps(std::int64_t epochs, std::int64_t steps_per_epoch, bool per_iteration);
std::int64_t schedule_index(std::int64_t epoch, std::int64_t iteration,
                            std::int64_t steps_per_epoch, bool per_iteration);

// Rows for `flowtrain schedule`: one per epoch (its first iteration), or one per iteration with
// every_step. epoch and step (global iteration) are 0-based.
struct ScheduleRow {
  std::int64_t epoch = 0;
  std::int64_t step = 0;
  double lr = 0.0;
  std::optional<double> momentum;
};
std::vector<ScheduleRow> schedule_table(const Schedule& schedule, std::int64_t epochs,
                                        std::int64_t steps_per_epoch, bool per_iteration,
                                        bool every_step);

}  // namespace ft::optim

// Schedule formulas. Closed forms throughout: torch's chainable (recursive) forms equal them up to
// double rounding (checked against torch's printed values by tests/kernels/optim).
#include "kernels/optim/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

namespace ft::optim {

namespace {

constexpr double kPi = std::numbers::pi;

[[noreturn]] void bad(const std::string& kind, const std::string& what) {
  throw std::invalid_argument("schedule " + kind + ": " + what);
}

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

struct LrMomentum {
  double lr;
  double momentum;
};

// torch.optim.lr_scheduler.CyclicLR.get_lr at last_epoch = t.
LrMomentum cyclic_at(const ScheduleSpec& p, std::int64_t t) {
  const double up = p.step_size_up, down = *p.step_size_down;
  const double total = up + down, ratio = up / total;
  const double td = static_cast<double>(t);
  const double cycle = std::floor(1.0 + td / total);
  const double x = 1.0 + td / total - cycle;
  const double scale = x <= ratio ? x / ratio : (x - 1.0) / (ratio - 1.0);
  double f = 1.0;  // triangular
  if (p.mode == CyclicMode::triangular2) f = 1.0 / std::pow(2.0, cycle - 1.0);
  if (p.mode == CyclicMode::exp_range) f = std::pow(*p.gamma, td);  // scale_mode 'iterations'
  const double lr = *p.base_lr + (*p.max_lr - *p.base_lr) * scale * f;
  const double m = *p.max_momentum - (*p.max_momentum - *p.base_momentum) * scale * f;
  return {lr, m};
}

double anneal(Anneal a, double start, double end, double pct) {
  if (a == Anneal::cos) return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0);
  return (end - start) * pct + start;
}

// torch.optim.lr_scheduler.OneCycleLR.get_lr at last_epoch = t (t clamped to total_steps).
LrMomentum onecycle_at(const ScheduleSpec& p, std::int64_t t) {
  const double n = static_cast<double>(p.onecycle_total_steps);
  const double max_lr = *p.max_lr, initial = max_lr / p.div_factor,
               min_lr = initial / p.final_div_factor;
  const double bm = *p.base_momentum, mm = *p.max_momentum;
  struct Phase {
    double end_step, start_lr, end_lr, start_m, end_m;
  };
  Phase phases[3];
  int count;
  if (p.three_phase) {
    phases[0] = {p.pct_start * n - 1.0, initial, max_lr, mm, bm};
    phases[1] = {2.0 * p.pct_start * n - 2.0, max_lr, initial, bm, mm};
    phases[2] = {n - 1.0, initial, min_lr, mm, mm};
    count = 3;
  } else {
    phases[0] = {p.pct_start * n - 1.0, initial, max_lr, mm, bm};
    phases[1] = {n - 1.0, max_lr, min_lr, bm, mm};
    count = 2;
  }
  const double step = static_cast<double>(std::min(t, p.onecycle_total_steps));
  double start_step = 0.0;
  for (int i = 0; i < count; ++i) {
    const Phase& ph = phases[i];
    if (step <= ph.end_step || i == count - 1) {
      const double pct = (step - start_step) / (ph.end_step - start_step);
      return {anneal(p.anneal, ph.start_lr, ph.end_lr, pct),
              anneal(p.anneal, ph.start_m, ph.end_m, pct)};
    }
    start_step = ph.end_step;
  }
  return {initial, mm};
}

}  // namespace

namespace {

constexpr std::pair<const char*, ScheduleKind> kKinds[] = {
    {"constant", ScheduleKind::constant},   {"step", ScheduleKind::step},
    {"multistep", ScheduleKind::multistep}, {"exponential", ScheduleKind::exponential},
    {"cyclic", ScheduleKind::cyclic},       {"onecycle", ScheduleKind::onecycle},
    {"cosine", ScheduleKind::cosine},       {"cosine_restarts", ScheduleKind::cosine_restarts}};
constexpr std::pair<const char*, CyclicMode> kModes[] = {{"triangular", CyclicMode::triangular},
                                                         {"triangular2", CyclicMode::triangular2},
                                                         {"exp_range", CyclicMode::exp_range}};
constexpr std::pair<const char*, Anneal> kAnneals[] = {{"cos", Anneal::cos},
                                                       {"linear", Anneal::linear}};

template <class Table>
std::vector<std::string> names_of(const Table& table) {
  std::vector<std::string> out;
  for (const auto& [n, v] : table) out.emplace_back(n);
  return out;
}

template <class Table>
auto parse_name(const Table& table, const std::string& name, const char* what) {
  for (const auto& [n, v] : table)
    if (name == n) return v;
  std::string known;
  for (const auto& [n, v] : table) known += (known.empty() ? "" : ", ") + std::string(n);
  throw std::invalid_argument("unknown " + std::string(what) + " '" + name + "' (known: " + known +
                              ")");
}

}  // namespace

ScheduleKind parse_schedule_kind(const std::string& name) {
  return parse_name(kKinds, name, "schedule kind");
}
std::vector<std::string> schedule_kind_names() { return names_of(kKinds); }
std::vector<std::string> cyclic_mode_names() { return names_of(kModes); }
std::vector<std::string> anneal_names() { return names_of(kAnneals); }

std::string to_string(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::constant:
      return "constant";
    case ScheduleKind::step:
      return "step";
    case ScheduleKind::multistep:
      return "multistep";
    case ScheduleKind::exponential:
      return "exponential";
    case ScheduleKind::cyclic:
      return "cyclic";
    case ScheduleKind::onecycle:
      return "onecycle";
    case ScheduleKind::cosine:
      return "cosine";
    case ScheduleKind::cosine_restarts:
      return "cosine_restarts";
  }
  return "?";
}

CyclicMode parse_cyclic_mode(const std::string& name) {
  return parse_name(kModes, name, "cyclic mode");
}

Anneal parse_anneal(const std::string& name) {
  return parse_name(kAnneals, name, "anneal strategy");
}

void check_schedule_spec(const ScheduleSpec& p, double base_lr) {
  const std::string k = to_string(p.kind);
  // `!(x >= 0)` and `!(x > 0)` also refuse NaN, which fails every comparison.
  const auto finite_at_least = [&](const char* name, double x, double lo, bool open) {
    if (!std::isfinite(x) || (open ? !(x > lo) : !(x >= lo)))
      bad(k, std::string(name) + " must be finite and " + (open ? "> " : ">= ") + num(lo) +
                 ", got " + num(x));
  };
  finite_at_least("lr", base_lr, 0.0, false);
  if (p.warmup_steps < 0)
    bad(k, "warmup steps must be >= 0, got " + std::to_string(p.warmup_steps));
  // torch.optim.lr_scheduler.LinearLR: "Starting multiplicative factor expected to be greater
  // than 0 and less or equal to 1."
  if (!(p.warmup_start_factor > 0.0 && p.warmup_start_factor <= 1.0))
    bad(k, "warmup start_factor must be in (0, 1], got " + num(p.warmup_start_factor));
  if (p.gamma) finite_at_least("gamma", *p.gamma, 0.0, true);
  finite_at_least("eta_min", p.eta_min, 0.0, false);
  if (p.base_lr) finite_at_least("base_lr", *p.base_lr, 0.0, false);
  if (p.max_lr) finite_at_least("max_lr", *p.max_lr, 0.0, false);
  if (p.base_momentum) finite_at_least("base_momentum", *p.base_momentum, 0.0, false);
  if (p.max_momentum) finite_at_least("max_momentum", *p.max_momentum, 0.0, false);
  if (p.t_max < 0) bad(k, "T_max must be >= 1, got " + std::to_string(p.t_max));
  if (p.onecycle_total_steps < 0)
    bad(k, "total_steps must be >= 1, got " + std::to_string(p.onecycle_total_steps));
  switch (p.kind) {
    case ScheduleKind::constant:
    case ScheduleKind::cosine:
      break;
    case ScheduleKind::step:
      if (p.step_size <= 0) bad(k, "step_size must be > 0, got " + std::to_string(p.step_size));
      break;
    case ScheduleKind::multistep:
      if (!std::is_sorted(p.milestones.begin(), p.milestones.end()))
        bad(k, "milestones must be increasing");
      if (!p.milestones.empty() && p.milestones.front() < 0)
        bad(k, "milestones must be >= 0, got " + std::to_string(p.milestones.front()));
      break;
    case ScheduleKind::exponential:
      if (!p.gamma) bad(k, "gamma is required");
      break;
    case ScheduleKind::cosine_restarts:
      // torch.optim.lr_scheduler.CosineAnnealingWarmRestarts: "Expected positive integer T_0",
      // "Expected integer T_mult >= 1".
      if (p.t_0 <= 0) bad(k, "T_0 must be > 0, got " + std::to_string(p.t_0));
      if (p.t_mult < 1) bad(k, "T_mult must be >= 1, got " + std::to_string(p.t_mult));
      break;
    case ScheduleKind::cyclic:
      if (!p.max_lr) bad(k, "max_lr is required");
      finite_at_least("step_size_up", p.step_size_up, 0.0, true);
      if (p.step_size_down) finite_at_least("step_size_down", *p.step_size_down, 0.0, true);
      break;
    case ScheduleKind::onecycle:
      // torch.optim.lr_scheduler.OneCycleLR: "Expected float between 0 and 1 pct_start". It
      // does not check the factors, but 0 makes the initial or final lr infinite.
      if (!(p.pct_start >= 0.0 && p.pct_start <= 1.0))
        bad(k, "pct_start must be in [0, 1], got " + num(p.pct_start));
      finite_at_least("div_factor", p.div_factor, 0.0, true);
      finite_at_least("final_div_factor", p.final_div_factor, 0.0, true);
      break;
  }
}

bool schedule_follows_run_length(const ScheduleSpec& spec) {
  return (spec.kind == ScheduleKind::cosine && spec.t_max == 0) ||
         (spec.kind == ScheduleKind::onecycle && spec.onecycle_total_steps == 0);
}

namespace {

// Every step's lr and momentum finite (exponential with gamma > 1, exp_range cycles and
// chained factors can overflow on a long run).
void check_finite_over_run(const Schedule& s, std::int64_t total_steps) {
  constexpr std::int64_t kEveryStepUpTo = std::int64_t{1} << 22;
  const auto check = [&](std::int64_t t) {
    const auto fail = [&](const char* what, double v) {
      bad(to_string(s.spec().kind),
          std::string("the ") + what + " is " + num(v) + " at scheduler step " + std::to_string(t) +
              " of " + std::to_string(total_steps) + "; check gamma and the factors");
    };
    if (const double lr = s.lr(t); !std::isfinite(lr)) fail("learning rate", lr);
    if (const auto m = s.momentum(t); m && !std::isfinite(*m)) fail("momentum", *m);
  };
  if (total_steps <= kEveryStepUpTo) {
    for (std::int64_t t = 0; t < std::max<std::int64_t>(total_steps, 1); ++t) check(t);
  } else {
    check(0);
    check(total_steps - 1);
  }
}

}  // namespace

Schedule make_schedule(const ScheduleSpec& spec_in, double base_lr, double base_momentum,
                       std::int64_t total_steps) {
  check_schedule_spec(spec_in, base_lr);
  Schedule s;
  s.spec_ = spec_in;
  s.base_lr_ = base_lr;
  s.base_momentum_ = base_momentum;
  s.total_steps_ = total_steps;
  ScheduleSpec& p = s.spec_;
  const std::string k = to_string(p.kind);
  const std::int64_t main_steps = total_steps - p.warmup_steps;
  switch (p.kind) {
    case ScheduleKind::constant:
    case ScheduleKind::exponential:
    case ScheduleKind::cosine_restarts:
      break;
    case ScheduleKind::step:
    case ScheduleKind::multistep:
      if (!p.gamma) p.gamma = 0.1;
      break;
    case ScheduleKind::cosine:
      if (p.t_max == 0) p.t_max = main_steps;
      if (p.t_max <= 0)
        bad(k, "T_max must be > 0 (it defaults to total steps - warmup steps = " +
                   std::to_string(main_steps) + ")");
      break;
    case ScheduleKind::cyclic:
      if (!p.base_lr) p.base_lr = base_lr;
      if (!p.step_size_down) p.step_size_down = p.step_size_up;
      if (!p.gamma) p.gamma = 1.0;
      if (!p.base_momentum) p.base_momentum = 0.8;
      if (!p.max_momentum) p.max_momentum = 0.9;
      break;
    case ScheduleKind::onecycle: {
      if (!p.max_lr) p.max_lr = base_lr;
      if (p.onecycle_total_steps == 0) p.onecycle_total_steps = main_steps;
      if (p.onecycle_total_steps <= 0)
        bad(k, "total_steps must be > 0 (it defaults to total steps - warmup steps = " +
                   std::to_string(main_steps) + ")");
      if (!p.base_momentum) p.base_momentum = 0.85;
      if (!p.max_momentum) p.max_momentum = 0.95;
      // Each phase divides by its length; torch fails with ZeroDivisionError there.
      const double n = static_cast<double>(p.onecycle_total_steps);
      const double e1 = p.pct_start * n - 1.0;
      const double e2 = p.three_phase ? 2.0 * p.pct_start * n - 2.0 : n - 1.0;
      if (e1 == 0.0 || e2 == e1 || (p.three_phase && n - 1.0 == e2))
        bad(k, "a phase has zero length: total_steps " + std::to_string(p.onecycle_total_steps) +
                   " is too small for pct_start " + num(p.pct_start));
      break;
    }
  }
  check_finite_over_run(s, total_steps);
  return s;
}

double Schedule::main_lr(std::int64_t t) const {
  const ScheduleSpec& p = spec_;
  const double b = base_lr_;
  const double td = static_cast<double>(t);
  switch (p.kind) {
    case ScheduleKind::constant:
      return b;
    case ScheduleKind::step:
      return b * std::pow(*p.gamma, static_cast<double>(t / p.step_size));
    case ScheduleKind::multistep: {
      const auto passed =
          std::upper_bound(p.milestones.begin(), p.milestones.end(), t) - p.milestones.begin();
      return b * std::pow(*p.gamma, static_cast<double>(passed));
    }
    case ScheduleKind::exponential:
      return b * std::pow(*p.gamma, td);
    case ScheduleKind::cosine:
      return p.eta_min +
             (b - p.eta_min) * (1.0 + std::cos(kPi * td / static_cast<double>(p.t_max))) / 2.0;
    case ScheduleKind::cosine_restarts: {
      // torch's step(): T_cur += 1; if T_cur >= T_i: T_cur -= T_i, T_i *= T_mult. T_i grows in
      // double: in int64 a large T_mult overflows (undefined) and the loop never ended; a T_i
      // beyond 2^63 (or inf) simply outlasts every step.
      std::int64_t t_cur = t;
      double t_i = static_cast<double>(p.t_0);
      if (p.t_mult == 1) {
        t_cur = t % p.t_0;
      } else {
        while (static_cast<double>(t_cur) >= t_i) {
          t_cur -= static_cast<std::int64_t>(t_i);  // t_i <= t_cur < 2^63 here
          t_i *= static_cast<double>(p.t_mult);
        }
      }
      return p.eta_min +
             (b - p.eta_min) * (1.0 + std::cos(kPi * static_cast<double>(t_cur) / t_i)) / 2.0;
    }
    case ScheduleKind::cyclic:
      return cyclic_at(p, t).lr;
    case ScheduleKind::onecycle:
      return onecycle_at(p, t).lr;
  }
  return b;
}

std::optional<double> Schedule::main_momentum(std::int64_t t) const {
  if (!spec_.cycle_momentum) return std::nullopt;
  if (spec_.kind == ScheduleKind::cyclic) return cyclic_at(spec_, t).momentum;
  if (spec_.kind == ScheduleKind::onecycle) return onecycle_at(spec_, t).momentum;
  return std::nullopt;
}

double Schedule::lr(std::int64_t step) const {
  step = std::max<std::int64_t>(step, 0);
  const std::int64_t w = spec_.warmup_steps;
  if (step >= w) return main_lr(step - w);
  // LinearLR(start_factor, end_factor=1, total_iters=w) over the main schedule's first value.
  const double f = spec_.warmup_start_factor + (1.0 - spec_.warmup_start_factor) *
                                                   static_cast<double>(step) /
                                                   static_cast<double>(w);
  return main_lr(0) * f;
}

std::optional<double> Schedule::momentum(std::int64_t step) const {
  return main_momentum(std::max<std::int64_t>(step - spec_.warmup_steps, 0));
}

std::string Schedule::describe() const {
  const ScheduleSpec& p = spec_;
  std::ostringstream s;
  if (p.warmup_steps > 0)
    s << "warmup(steps=" << p.warmup_steps << ", start_factor=" << p.warmup_start_factor << ") -> ";
  s << to_string(p.kind) << "(lr=" << base_lr_;
  switch (p.kind) {
    case ScheduleKind::constant:
      break;
    case ScheduleKind::step:
      s << ", step_size=" << p.step_size << ", gamma=" << *p.gamma;
      break;
    case ScheduleKind::multistep: {
      s << ", milestones=[";
      for (std::size_t i = 0; i < p.milestones.size(); ++i) s << (i ? ", " : "") << p.milestones[i];
      s << "], gamma=" << *p.gamma;
      break;
    }
    case ScheduleKind::exponential:
      s << ", gamma=" << *p.gamma;
      break;
    case ScheduleKind::cosine:
      s << ", T_max=" << p.t_max << ", eta_min=" << p.eta_min;
      break;
    case ScheduleKind::cosine_restarts:
      s << ", T_0=" << p.t_0 << ", T_mult=" << p.t_mult << ", eta_min=" << p.eta_min;
      break;
    case ScheduleKind::cyclic: {
      static const char* modes[] = {"triangular", "triangular2", "exp_range"};
      s << ", base_lr=" << *p.base_lr << ", max_lr=" << *p.max_lr
        << ", step_size_up=" << p.step_size_up << ", step_size_down=" << *p.step_size_down
        << ", mode=" << modes[static_cast<int>(p.mode)] << ", gamma=" << *p.gamma;
      break;
    }
    case ScheduleKind::onecycle:
      s << ", max_lr=" << *p.max_lr << ", total_steps=" << p.onecycle_total_steps
        << ", pct_start=" << p.pct_start
        << ", anneal=" << (p.anneal == Anneal::cos ? "cos" : "linear")
        << ", div_factor=" << p.div_factor << ", final_div_factor=" << p.final_div_factor
        << ", three_phase=" << (p.three_phase ? "true" : "false");
      break;
  }
  if ((p.kind == ScheduleKind::cyclic || p.kind == ScheduleKind::onecycle)) {
    if (p.cycle_momentum)
      s << ", momentum " << *p.base_momentum << ".." << *p.max_momentum;
    else
      s << ", cycle_momentum=false";
  }
  s << ")";
  return s.str();
}

std::int64_t schedule_steps(std::int64_t epochs, std::int64_t steps_per_epoch, bool per_iteration) {
  return per_iteration ? epochs * steps_per_epoch : epochs;
}

std::int64_t schedule_index(std::int64_t epoch, std::int64_t iteration,
                            std::int64_t steps_per_epoch, bool per_iteration) {
  return per_iteration ? epoch * steps_per_epoch + iteration : epoch;
}

std::vector<ScheduleRow> schedule_table(const Schedule& schedule, std::int64_t epochs,
                                        std::int64_t steps_per_epoch, bool per_iteration,
                                        bool every_step) {
  std::vector<ScheduleRow> rows;
  for (std::int64_t e = 0; e < epochs; ++e) {
    const std::int64_t n =
        every_step ? steps_per_epoch : std::min<std::int64_t>(steps_per_epoch, 1);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t k = schedule_index(e, i, steps_per_epoch, per_iteration);
      rows.push_back({e, e * steps_per_epoch + i, schedule.lr(k), schedule.momentum(k)});
    }
  }
  return rows;
}

}  // namespace ft::optim

// Key tables and setters for SgdOptions and ScheduleSpec; see config_fields.hpp.
#include "kernels/optim/config_fields.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace ft::optim {

namespace {

const char* type_name(const FieldValue& v) {
  static const char* names[] = {"a bool",   "an integer",      "a number",
                                "a string", "an integer list", "a string list"};
  return names[v.index()];
}

[[noreturn]] void wrong_type(const std::string& table, const std::string& key, const char* want,
                             const FieldValue& v) {
  throw std::invalid_argument(table + " key '" + key + "' expects " + want + ", got " +
                              type_name(v));
}

double as_number(const std::string& t, const std::string& k, const FieldValue& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  wrong_type(t, k, "a number", v);
}

std::int64_t as_int(const std::string& t, const std::string& k, const FieldValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  wrong_type(t, k, "an integer", v);
}

bool as_bool(const std::string& t, const std::string& k, const FieldValue& v) {
  if (const auto* b = std::get_if<bool>(&v)) return *b;
  wrong_type(t, k, "a bool", v);
}

// Range checks for a number key: finite, and >= lo (or > lo when open). NaN fails both
// comparisons, so `!(x >= lo)` refuses it too.
double number_in(const std::string& t, const std::string& k, const FieldValue& v, double lo,
                 bool open, const char* why = "") {
  const double x = as_number(t, k, v);
  if (!std::isfinite(x) || (open ? !(x > lo) : !(x >= lo))) {
    std::ostringstream s;
    s << t << " key '" << k << "' must be finite and " << (open ? "> " : ">= ") << lo << why
      << ", got " << x;
    throw std::invalid_argument(s.str());
  }
  return x;
}

double any_finite(const std::string& t, const std::string& k, const FieldValue& v) {
  const double x = as_number(t, k, v);
  if (!std::isfinite(x))
    throw std::invalid_argument(t + " key '" + k + "' must be finite, got " + std::to_string(x));
  return x;
}

std::int64_t int_at_least(const std::string& t, const std::string& k, const FieldValue& v,
                          std::int64_t lo, const char* why = "") {
  const std::int64_t i = as_int(t, k, v);
  if (i < lo)
    throw std::invalid_argument(t + " key '" + k + "' must be >= " + std::to_string(lo) + why +
                                ", got " + std::to_string(i));
  return i;
}

const std::string& as_string(const std::string& t, const std::string& k, const FieldValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  wrong_type(t, k, "a string", v);
}

[[noreturn]] void unknown(const std::string& table, const std::string& key,
                          const std::vector<FieldDoc>& fields) {
  std::string known;
  for (const FieldDoc& f : fields) known += (known.empty() ? "" : ", ") + std::string(f.key);
  throw std::invalid_argument("unknown " + table + " key '" + key + "' (known: " + known + ")");
}

}  // namespace

const std::vector<FieldDoc>& sgd_fields() {
  static const std::vector<FieldDoc> f = {
      {"kind", "string", "sgd", "", "optimizer; only \"sgd\" (torch.optim.SGD's update rule)"},
      {"lr", "float", "0.01", "", "base learning rate (schedules scale or replace it)"},
      {"momentum", "float", "0", "", "momentum factor; the buffer starts as the first gradient"},
      {"dampening", "float", "0", "", "dampening of the momentum's gradient term"},
      {"nesterov", "bool", "false", "", "Nesterov momentum (needs momentum > 0, dampening 0)"},
      {"weight_decay", "float", "0", "", "L2 penalty added to the gradient"},
      {"no_decay", "string list", "[]", "",
       "parameter roles without weight decay: \"bias\", \"norm\" (batch-norm weight and bias)"},
      {"max_grad_norm", "float", "0", "", "clip gradients to this global 2-norm; 0 = off"},
  };
  return f;
}

void set_sgd_field(SgdOptions& o, const std::string& key, const FieldValue& v) {
  const std::string t = "optimizer";
  if (key == "kind") {
    if (as_string(t, key, v) != "sgd")
      throw std::invalid_argument("unknown optimizer kind '" + std::get<std::string>(v) +
                                  "' (known: sgd)");
  } else if (key == "lr") {
    o.lr = number_in(t, key, v, 0.0, false);
  } else if (key == "momentum") {
    o.momentum = number_in(t, key, v, 0.0, false);
  } else if (key == "dampening") {
    o.dampening = any_finite(t, key, v);
  } else if (key == "nesterov") {
    o.nesterov = as_bool(t, key, v);
  } else if (key == "weight_decay") {
    o.weight_decay = number_in(t, key, v, 0.0, false);
  } else if (key == "max_grad_norm") {
    o.max_grad_norm = number_in(t, key, v, 0.0, false, " (0 = no clipping)");
  } else if (key == "no_decay") {
    const auto* list = std::get_if<std::vector<std::string>>(&v);
    if (list == nullptr) wrong_type(t, key, "a string list", v);
    o.no_decay_bias = o.no_decay_norm = false;
    for (const std::string& role : *list) {
      if (role == "bias") {
        o.no_decay_bias = true;
      } else if (role == "norm" || role == "batchnorm") {
        o.no_decay_norm = true;
      } else {
        throw std::invalid_argument("optimizer key 'no_decay': unknown role '" + role +
                                    "' (known: bias, norm, batchnorm)");
      }
    }
  } else {
    unknown(t, key, sgd_fields());
  }
}

const std::vector<FieldDoc>& schedule_fields() {
  static const std::vector<FieldDoc> f = {
      {"kind", "string", "constant", "",
       "constant | step | multistep | exponential | cyclic | onecycle | cosine | cosine_restarts"},
      {"step_size", "int", "", "step", "decay every step_size scheduler steps"},
      {"milestones", "int list", "", "multistep", "scheduler steps at which to decay"},
      {"gamma", "float", "0.1 (cyclic: 1.0)", "step, multistep, exponential, cyclic",
       "decay factor (cyclic exp_range: per-step scale)"},
      {"T_max", "int", "main schedule length", "cosine", "half period of the cosine"},
      {"eta_min", "float", "0", "cosine, cosine_restarts", "lowest learning rate"},
      {"T_0", "int", "", "cosine_restarts", "length of the first cycle"},
      {"T_mult", "int", "1", "cosine_restarts", "cycle length growth factor"},
      {"base_lr", "float", "optimizer lr", "cyclic", "lower bound of the cycle"},
      {"max_lr", "float", "optimizer lr (onecycle)", "cyclic, onecycle", "peak learning rate"},
      {"step_size_up", "int", "2000", "cyclic", "steps of the rising half"},
      {"step_size_down", "int", "step_size_up", "cyclic", "steps of the falling half"},
      {"mode", "string", "triangular", "cyclic", "triangular | triangular2 | exp_range"},
      {"cycle_momentum", "bool", "true", "cyclic, onecycle", "cycle momentum inversely to the lr"},
      {"base_momentum", "float", "0.8 (onecycle: 0.85)", "cyclic, onecycle", "lowest momentum"},
      {"max_momentum", "float", "0.9 (onecycle: 0.95)", "cyclic, onecycle", "highest momentum"},
      {"total_steps", "int", "main schedule length", "onecycle", "length of the cycle"},
      {"pct_start", "float", "0.3", "onecycle", "fraction of the cycle spent rising"},
      {"anneal_strategy", "string", "cos", "onecycle", "cos | linear"},
      {"div_factor", "float", "25", "onecycle", "initial lr = max_lr / div_factor"},
      {"final_div_factor", "float", "1e4", "onecycle", "final lr = initial lr / final_div_factor"},
      {"three_phase", "bool", "false", "onecycle", "fall back to the initial lr before annealing"},
  };
  return f;
}

void set_schedule_field(ScheduleSpec& s, const std::string& key, const FieldValue& v) {
  const std::string t = "schedule";
  if (key == "kind") {
    s.kind = parse_schedule_kind(as_string(t, key, v));
  } else if (key == "step_size") {
    s.step_size = int_at_least(t, key, v, 1);
  } else if (key == "milestones") {
    const auto* list = std::get_if<std::vector<std::int64_t>>(&v);
    if (list == nullptr) wrong_type(t, key, "an integer list", v);
    for (std::int64_t m : *list)
      if (m < 0)
        throw std::invalid_argument("schedule key 'milestones' must hold steps >= 0, got " +
                                    std::to_string(m));
    s.milestones = *list;
  } else if (key == "gamma") {
    s.gamma = number_in(t, key, v, 0.0, true);
  } else if (key == "T_max" || key == "t_max") {
    s.t_max = int_at_least(t, key, v, 1, " (leave it out for the main schedule's length)");
  } else if (key == "eta_min") {
    s.eta_min = number_in(t, key, v, 0.0, false);
  } else if (key == "T_0" || key == "t_0") {
    s.t_0 = int_at_least(t, key, v, 1);
  } else if (key == "T_mult" || key == "t_mult") {
    s.t_mult = int_at_least(t, key, v, 1);
  } else if (key == "base_lr") {
    s.base_lr = number_in(t, key, v, 0.0, false);
  } else if (key == "max_lr") {
    s.max_lr = number_in(t, key, v, 0.0, false);
  } else if (key == "step_size_up") {
    s.step_size_up = number_in(t, key, v, 0.0, true);
  } else if (key == "step_size_down") {
    s.step_size_down = number_in(t, key, v, 0.0, true);
  } else if (key == "mode") {
    s.mode = parse_cyclic_mode(as_string(t, key, v));
  } else if (key == "cycle_momentum") {
    s.cycle_momentum = as_bool(t, key, v);
  } else if (key == "base_momentum") {
    s.base_momentum = number_in(t, key, v, 0.0, false);
  } else if (key == "max_momentum") {
    s.max_momentum = number_in(t, key, v, 0.0, false);
  } else if (key == "total_steps") {
    s.onecycle_total_steps =
        int_at_least(t, key, v, 1, " (leave it out for the main schedule's length)");
  } else if (key == "pct_start") {
    s.pct_start = number_in(t, key, v, 0.0, false);
    if (s.pct_start > 1.0)
      throw std::invalid_argument("schedule key 'pct_start' must be in [0, 1], got " +
                                  std::to_string(s.pct_start));
  } else if (key == "anneal_strategy" || key == "anneal") {
    s.anneal = parse_anneal(as_string(t, key, v));
  } else if (key == "div_factor") {
    s.div_factor = number_in(t, key, v, 0.0, true, " (initial lr = max_lr / div_factor)");
  } else if (key == "final_div_factor") {
    s.final_div_factor =
        number_in(t, key, v, 0.0, true, " (final lr = initial lr / final_div_factor)");
  } else if (key == "three_phase") {
    s.three_phase = as_bool(t, key, v);
  } else {
    unknown(t, key, schedule_fields());
  }
}

}  // namespace ft::optim

// Resume checks: the checkpoint's stored config against the current one, key by key (see
// resume.hpp for which keys may differ), and the checkpoint's tensors finite.
#include "stages/train/resume.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "kernels/optim/schedule.hpp"
#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "stages/train/optim_config.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

namespace {

// How a run executes, not what it computes: never compared. init_from and zero_init_residual only
// shape the initial weights, which the checkpoint replaces.
const std::set<std::string> kIgnored = {
    "run.threads",  "run.omp_threads", "run.in_flight",   "run.name",
    "run.runs_dir", "run.time_limit",  "model.init_from", "model.zero_init_residual"};

// What the checkpoint's tensors and random stream were made for.
const std::map<std::string, std::string> kFixed = {
    {"run.seed", "the data order and augmentation draws would not continue the same stream"},
    {"model.kind", "the checkpoint holds weights for the saved architecture"},
    {"model.num_classes", "the checkpoint holds weights for the saved architecture"},
    {"model.blocks", "the checkpoint holds weights for the saved architecture"},
    {"model.base_width", "the checkpoint holds weights for the saved architecture"},
    {"model.widths", "the checkpoint holds weights for the saved architecture"},
    {"model.stage_blocks", "the checkpoint holds weights for the saved architecture"},
};

// Dotted keys -> value nodes. [[stage]] tables are keyed by their id (stage.<id>.<key>), so a
// reordered declaration is not a difference; other arrays are compared whole.
void flatten(const toml::node& n, const std::string& key,
             std::map<std::string, const toml::node*>& out) {
  if (const auto* t = n.as_table()) {
    for (auto&& [k, v] : *t)
      flatten(v, key.empty() ? std::string(k.str()) : key + "." + std::string(k.str()), out);
    return;
  }
  if (const auto* a = n.as_array(); a && key == "stage") {
    for (std::size_t i = 0; i < a->size(); ++i) {
      const auto* t = a->get(i)->as_table();
      const auto id = t ? (*t)["id"].value<std::string>() : std::nullopt;
      flatten(*a->get(i), "stage." + (id ? *id : std::to_string(i)), out);
    }
    return;
  }
  out[key] = &n;
}

// A value as a user would write it (shortest round-trip numbers: 0.1, not 0.10000000000000001).
std::string value_text(const toml::node* n) {
  if (!n) return "(absent)";
  if (const auto* a = n->as_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < a->size(); ++i) out += (i ? ", " : "") + value_text(a->get(i));
    return out + "]";
  }
  if (const auto* t = n->as_table()) {
    std::string out = "{";
    for (auto&& [k, v] : *t)
      out += fmt::format("{} {} = {}", out.size() > 1 ? "," : "", k.str(), value_text(&v));
    return out + " }";
  }
  if (const auto i = n->value_exact<std::int64_t>()) return fmt::format("{}", *i);
  if (const auto d = n->value_exact<double>()) return fmt::format("{}", *d);
  if (const auto b = n->value_exact<bool>()) return *b ? "true" : "false";
  if (const auto s = n->value_exact<std::string>()) return "\"" + *s + "\"";
  std::ostringstream o;  // dates and times
  n->visit([&](auto&& x) { o << x; });
  return o.str();
}

bool same_value(const toml::node& a, const toml::node& b) {
  if (a.is_number() && b.is_number()) return a.value<double>() == b.value<double>();
  return value_text(&a) == value_text(&b);
}

std::string where_of(const toml::node& v, const std::string& file) {
  const auto& src = v.source();
  return src.begin.line > 0 && !(src.path && *src.path == kOverrideSource)
             ? fmt::format("{}:{}:{}", file, src.begin.line, src.begin.column)
             : file + " (--set)";
}

// A run stopped inside an epoch resumes at a batch of that epoch's order: what makes the order
// (the data, the source's batching) cannot change.
void fix_data_order(std::vector<ConfigChange>& changes, const ResumePlan& plan) {
  for (auto& c : changes) {
    const auto ends_with = [&](const char* s) {
      const std::string t = s;
      return c.key.size() > t.size() && c.key.compare(c.key.size() - t.size(), t.size(), t) == 0;
    };
    const bool order =
        c.key.rfind("data.", 0) == 0 ||
        (c.key.rfind("stage.", 0) == 0 &&
         (ends_with(".batch_size") || ends_with(".shuffle") || ends_with(".drop_last")));
    if (!order || c.fixed) continue;
    c.fixed = true;
    c.why = fmt::format(
        "the run stopped after batch {} of epoch {} and continues that epoch's data order",
        plan.epoch_batches, plan.epoch + 1);
  }
}

}  // namespace

std::vector<ConfigChange> config_changes(const toml::table& before, const toml::table& after,
                                         const std::string& file) {
  std::map<std::string, const toml::node*> b, a;
  flatten(before, "", b);
  flatten(after, "", a);
  std::set<std::string> keys;
  for (const auto& [k, _] : b) keys.insert(k);
  for (const auto& [k, _] : a) keys.insert(k);
  std::vector<ConfigChange> out;
  for (const std::string& key : keys) {
    if (kIgnored.contains(key)) continue;
    const auto bi = b.find(key);
    const auto ai = a.find(key);
    const toml::node* bn = bi == b.end() ? nullptr : bi->second;
    const toml::node* an = ai == a.end() ? nullptr : ai->second;
    if (bn && an && same_value(*bn, *an)) continue;
    ConfigChange c{key, value_text(bn), value_text(an), an ? where_of(*an, file) : "", "", false};
    if (const auto f = kFixed.find(key); f != kFixed.end()) {
      c.fixed = true;
      c.why = f->second;
    } else if (key == "run.epochs") {
      // More (or fewer) epochs is what resuming is for, unless the schedule stretches with them.
      const optim::ScheduleSpec spec = read_optim_config(after, file).schedule;
      if (!optim::schedule_follows_run_length(spec)) continue;
      c.why =
          fmt::format("the {} schedule's length follows run.epochs, so its learning rates change",
                      optim::to_string(spec.kind));
    }
    out.push_back(std::move(c));
  }
  return out;
}

ResumePlan check_resume(const optim::Checkpoint& ckpt, const toml::table& config,
                        const std::string& config_file, bool accept_changes) {
  ResumePlan plan;
  try {
    plan.epoch = ckpt.int_value("run.epoch");
    if (const auto it = ckpt.ints.find("run.epoch_batches"); it != ckpt.ints.end())
      plan.epoch_batches = it->second;
  } catch (const std::runtime_error& e) {
    throw Error(e.what(), 2);
  }
  if (const std::string bad = optim::non_finite_text(ckpt); !bad.empty())
    throw Error(bad + "; the run it comes from diverged, so it cannot be resumed", 2);
  plan.epochs = config["run"]["epochs"].value_or<std::int64_t>(1);
  plan.finished = plan.epoch >= plan.epochs;

  const auto stored = ckpt.strings.find("run.config");
  if (stored == ckpt.strings.end() || stored->second.empty()) return plan;
  toml::table before;
  try {
    before = toml::parse(stored->second, std::string("checkpoint config"));
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("checkpoint {}: its stored config does not parse: {}", ckpt.source,
                            e.description()),
                2);
  }
  std::vector<ConfigChange> changes = config_changes(before, config, config_file);
  if (changes.empty() || plan.finished) return plan;
  if (plan.epoch_batches > 0) fix_data_order(changes, plan);
  const bool any_fixed =
      std::any_of(changes.begin(), changes.end(), [](const ConfigChange& c) { return c.fixed; });
  if (accept_changes && !any_fixed) {
    plan.accepted = std::move(changes);
    return plan;
  }
  std::string msg = "the config differs from the one this checkpoint was trained with:";
  std::vector<std::string> fixed;
  for (const auto& c : changes) {
    msg += fmt::format("\n  {}: {} -> {}", c.key, c.before, c.after);
    if (!c.where.empty()) msg += fmt::format(" ({})", c.where);
    if (c.fixed) {
      msg += ": cannot change on resume: " + c.why;
      fixed.push_back(c.key);
    } else if (!c.why.empty()) {
      msg += ": " + c.why;
    }
  }
  if (!fixed.empty())
    msg += fmt::format(
        "\n{} cannot change on resume; restore {} or start a new run (with [model] init_from = "
        "\"{}\" to start from these weights)",
        fmt::join(fixed, ", "), fixed.size() > 1 ? "them" : "it", ckpt.source);
  else
    msg +=
        "\nresuming with changed values continues a different run than the one saved; pass "
        "--accept-changes to resume with them anyway, or restore them";
  throw ConfigError(msg);
}

}  // namespace ft

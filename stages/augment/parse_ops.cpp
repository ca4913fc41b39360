// Parsing of the augment stage's `ops` list into kernels/augment's AugmentOp descriptions, driven
// by each op's declared keys (kernels/augment/ops/<name>.cpp): every key is checked here against
// its OpKey (type, shape, range, choices; unknown keys get a suggestion), defaults come from the
// declaration's TOML text, then the op's own parse runs. Errors name file:line:col, the op index
// and name, and the key.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/op_def.hpp"
#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "stages/augment/augment_stage.hpp"

namespace ft {

namespace {

using aug::AugmentOp;
using aug::KeyShape;
using aug::OpDef;
using aug::OpKey;
using aug::OpValue;

// A number node as a double; an integer beyond 2^53 converts with rounding (toml++'s value<double>
// refuses it and returns nothing).
double number_of(const toml::node& n) {
  if (const auto i = n.value_exact<std::int64_t>()) return static_cast<double>(*i);
  return n.value_exact<double>().value_or(0.0);
}

// Checks one op table's keys against its OpDef and converts them to OpArgs.
class OpChecker {
 public:
  OpChecker(const Params& p, const toml::table& t, std::size_t index, const OpDef& def)
      : p_(p), t_(t), index_(index), def_(def) {}

  [[noreturn]] void fail(const toml::node& at, const std::string& key,
                         const std::string& msg) const {
    throw ConfigError(fmt::format("{}: op {} ({}) key '{}': {}", p_.where(at, "ops"), index_,
                                  def_.name, key, msg));
  }

  // Unknown keys first, then every declared key, given or defaulted.
  aug::OpArgs args() const {
    std::vector<std::string> names;
    for (const OpKey& k : def_.keys) names.push_back(k.spec.name);
    for (auto&& [key, value] : t_) {
      const std::string ks(key.str());
      if (ks == "op" || std::find(names.begin(), names.end(), ks) != names.end()) continue;
      const std::string hint = closest(ks, names);
      fail(value, ks,
           fmt::format(
               "unknown key{}; {} takes: {}",
               hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), def_.name,
               names.empty() ? std::string("no keys") : fmt::format("{}", fmt::join(names, ", "))));
    }
    aug::OpArgs a;
    for (const OpKey& k : def_.keys) a.set(k.spec.name, value(k));
    return a;
  }

  const toml::node& node_of(const std::string& key) const {
    const toml::node* n = t_.get(key);
    return n ? *n : *t_.get("op");
  }

 private:
  OpValue value(const OpKey& k) const {
    const ParamSpec& s = k.spec;
    if (const toml::node* n = t_.get(s.name)) {
      OpValue v = convert(*n, k);
      v.given = true;
      return v;
    }
    if (s.default_value.empty()) {
      if (s.optional) return OpValue{.absent = true};
      fail(*t_.get("op"), s.name, "is required: " + expectation(k));
    }
    // The declared default goes through the same checks as a written value.
    const toml::table d = toml::parse("v = " + s.default_value);
    return convert(*d.get("v"), k);
  }

  double lo(const OpKey& k) const { return k.spec.min.value_or(-1e300); }
  double hi(const OpKey& k) const { return k.spec.max.value_or(1e300); }

  std::string expectation(const OpKey& k) const {
    switch (k.shape) {
      case KeyShape::size:
        return "an integer or [height, width]";
      case KeyShape::padding:
        return "N, [left/right, top/bottom] or [left, top, right, bottom] integers";
      case KeyShape::per_channel:
        return fmt::format("a number or a list of 1 to {} numbers in [{}, {}]", aug::kMaxPerChannel,
                           lo(k), hi(k));
      case KeyShape::range:
        return fmt::format("[low, high] with {} <= low <= high <= {}", lo(k), hi(k));
      case KeyShape::one:
        break;
    }
    switch (k.spec.type) {
      case ParamType::boolean:
        return "true or false";
      case ParamType::integer:
        return fmt::format("an integer in [{}, {}]", lo(k), hi(k));
      case ParamType::string:
        return fmt::format("one of: {}", fmt::join(k.spec.choices, ", "));
      default:
        return fmt::format("a number in [{}, {}]", lo(k), hi(k));
    }
  }

  OpValue convert(const toml::node& n, const OpKey& k) const {
    switch (k.shape) {
      case KeyShape::one:
        return one(n, k);
      case KeyShape::size:
        return size(n, k);
      case KeyShape::padding:
        return padding(n, k);
      case KeyShape::per_channel:
        return per_channel(n, k);
      case KeyShape::range:
        return range(n, k);
    }
    return {};
  }

  OpValue one(const toml::node& n, const OpKey& k) const {
    const std::string& key = k.spec.name;
    OpValue v{.scalar = true};
    switch (k.spec.type) {
      case ParamType::boolean:
        if (!n.is_boolean()) fail(n, key, "expected " + expectation(k));
        v.boolean = *n.value<bool>();
        return v;
      case ParamType::string: {
        if (!n.is_string()) fail(n, key, "expected " + expectation(k));
        v.text = *n.value<std::string>();
        const auto& c = k.spec.choices;
        if (!c.empty() && std::find(c.begin(), c.end(), v.text) == c.end())
          fail(n, key, fmt::format("'{}' is not one of: {}", v.text, fmt::join(c, ", ")));
        return v;
      }
      default: {
        const bool integer = k.spec.type == ParamType::integer;
        if (!(integer ? n.is_integer() : n.is_number())) fail(n, key, "expected " + expectation(k));
        const double x = number_of(n);
        if (!(x >= lo(k) && x <= hi(k)))
          fail(n, key, fmt::format("{} is out of range: expected {}", x, expectation(k)));
        v.numbers = {x};
        return v;
      }
    }
  }

  // An integer (square) or [h, w], each in [min, max].
  OpValue size(const toml::node& n, const OpKey& k) const {
    const std::string& key = k.spec.name;
    OpValue v;
    if (n.is_integer()) {
      v.scalar = true;
      v.numbers = {number_of(n)};
    } else if (auto* a = n.as_array();
               a && a->size() == 2 && a->get(0)->is_integer() && a->get(1)->is_integer()) {
      v.numbers = {number_of(*a->get(0)), number_of(*a->get(1))};
    } else {
      fail(n, key, "expected " + expectation(k));
    }
    for (double x : v.numbers)
      if (x < lo(k) || x > hi(k))
        fail(n, key, fmt::format("{} is out of range: sizes are in [{}, {}]", x, lo(k), hi(k)));
    return v;
  }

  OpValue padding(const toml::node& n, const OpKey& k) const {
    const std::string& key = k.spec.name;
    std::vector<std::int64_t> p;
    if (n.is_integer())
      p.push_back(*n.value<std::int64_t>());
    else if (auto* a = n.as_array())
      for (auto& e : *a)
        if (e.is_integer()) p.push_back(*e.value<std::int64_t>());
    const bool ok = (p.size() == 1 || p.size() == 2 || p.size() == 4) &&
                    (!n.as_array() || n.as_array()->size() == p.size());
    if (!ok) fail(n, key, "expected " + expectation(k));
    OpValue v{.scalar = n.is_integer()};
    for (auto x : p) {
      if (x < lo(k) || x > hi(k))
        fail(n, key, fmt::format("{} is out of range [{}, {}]", x, lo(k), hi(k)));
      v.numbers.push_back(static_cast<double>(x));
    }
    return v;
  }

  // A number or a list of 1 to 3 numbers in [min, max], or a string among the choices.
  OpValue per_channel(const toml::node& n, const OpKey& k) const {
    const std::string& key = k.spec.name;
    const auto& c = k.spec.choices;
    if (!c.empty() && n.is_string()) {
      const std::string text = *n.value<std::string>();
      if (std::find(c.begin(), c.end(), text) == c.end())
        fail(n, key,
             fmt::format("expected a number, a list of numbers or \"{}\"",
                         fmt::join(c, "\" or \"")));
      return OpValue{.scalar = true, .text = text};
    }
    const std::string expect = "expected " + expectation(k);
    OpValue v;
    if (n.is_number()) {
      v.scalar = true;
      v.numbers.push_back(number_of(n));
    } else if (auto* a = n.as_array();
               a && !a->empty() && a->size() <= static_cast<std::size_t>(aug::kMaxPerChannel)) {
      for (auto& e : *a) {
        if (!e.is_number()) fail(e, key, expect);
        v.numbers.push_back(number_of(e));
      }
    } else {
      fail(n, key, expect);
    }
    for (double x : v.numbers)
      if (!(x >= lo(k) && x <= hi(k)))
        fail(n, key, fmt::format("{} is out of range: {}", x, expect));
    return v;
  }

  // [low, high] with min <= low <= high <= max.
  OpValue range(const toml::node& n, const OpKey& k) const {
    const std::string& key = k.spec.name;
    auto* a = n.as_array();
    const std::string expect = "expected " + expectation(k);
    if (!a || a->size() != 2 || !a->get(0)->is_number() || !a->get(1)->is_number())
      fail(n, key, expect);
    const double l = number_of(*a->get(0)), h = number_of(*a->get(1));
    if (!(l >= lo(k) && l <= h && h <= hi(k)))
      fail(n, key, fmt::format("[{}, {}]: {}", l, h, expect));
    return OpValue{.numbers = {l, h}};
  }

  const Params& p_;
  const toml::table& t_;
  std::size_t index_;
  const OpDef& def_;
};

// Ops by name, sorted (the order of `flowtrain stages` and of the known-ops list).
const std::map<std::string, const OpDef*>& ops_by_name() {
  static const std::map<std::string, const OpDef*> m = [] {
    std::map<std::string, const OpDef*> r;
    for (const OpDef& d : aug::op_defs()) r[d.name] = &d;
    return r;
  }();
  return m;
}

std::string key_doc(const OpKey& k) {
  const ParamSpec& s = k.spec;
  const std::string value = !s.default_value.empty() ? " = " + s.default_value
                            : s.optional             ? " (optional)"
                                                     : " (required)";
  const std::string choices = s.choices.empty() || k.shape != KeyShape::one
                                  ? ""
                                  : fmt::format(" (one of: {})", fmt::join(s.choices, ", "));
  return fmt::format("{}{}{}: {}", s.name, value, choices, s.doc);
}

}  // namespace

const std::vector<std::string>& augment_op_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (auto& [k, _] : ops_by_name()) v.push_back(k);
    return v;
  }();
  return names;
}

std::string augment_ops_doc() {
  std::vector<std::string> parts;
  for (auto& [name, def] : ops_by_name()) {
    std::vector<std::string> keys;
    for (const OpKey& k : def->keys) keys.push_back(key_doc(k));
    parts.push_back(keys.empty()
                        ? fmt::format("{} ({})", name, def->doc)
                        : fmt::format("{} ({}; {})", name, def->doc, fmt::join(keys, "; ")));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

std::vector<AugmentOp> parse_augment_ops(const Params& p) {
  const toml::array* list = p.get_array("ops");
  if (!list) throw ConfigError(fmt::format("{}: expected a list of op tables", p.where("ops")));
  std::vector<AugmentOp> ops;
  const std::string known = fmt::format("{}", fmt::join(augment_op_names(), ", "));
  for (std::size_t k = 0; k < list->size(); ++k) {
    const toml::node& node = *list->get(k);
    const toml::table* t = node.as_table();
    if (!t)
      throw ConfigError(fmt::format("{}: op {}: expected a table {{ op = \"name\", ... }}",
                                    p.where(node, "ops"), k));
    const toml::node* name_node = t->get("op");
    if (!name_node || !name_node->is_string())
      throw ConfigError(fmt::format("{}: op {}: needs op = \"name\", one of: {}",
                                    p.where(node, "ops"), k, known));
    const std::string name = *name_node->value<std::string>();
    auto it = ops_by_name().find(name);
    if (it == ops_by_name().end()) {
      const std::string hint = closest(name, augment_op_names());
      throw ConfigError(
          fmt::format("{}: op {}: unknown op '{}'{}; known ops: {}", p.where(*name_node, "ops"), k,
                      name, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), known));
    }
    const OpDef& def = *it->second;
    const OpChecker checker(p, *t, k, def);
    const aug::OpArgs args = checker.args();
    AugmentOp op;
    op.kind = def.kind;
    try {
      def.parse(args, op);
    } catch (const aug::OpKeyError& e) {
      checker.fail(checker.node_of(e.key), e.key, e.what());
    }
    ops.push_back(op);
  }
  try {
    aug::validate_ops(ops);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: {}", p.where("ops"), e.what()));
  }
  return ops;
}

}  // namespace ft

// Parsing of the augment stage's `ops` list into kernels/augment's AugmentOp descriptions. Every
// key of every op is checked here (type, range, unknown keys), so a bad op stops the run before it
// starts, with file:line:col, the op index and name, and the key.
#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <map>

#include "kernels/augment/ops.hpp"
#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "stages/augment/augment_stage.hpp"

namespace ft {

namespace {

using aug::AugmentOp;
using aug::OpKind;

// Upper bounds of the op keys that size memory: an output side (16384 x 16384 x 3 f32 is already
// 3 GiB per sample) and a padding width. The run's memory estimate checks the whole batch.
constexpr std::int64_t kMaxSide = 16384;
constexpr std::int64_t kMaxPadding = 4096;

// A number node as a double; an integer beyond 2^53 converts with rounding (toml++'s value<double>
// refuses it and returns nothing).
double number_of(const toml::node& n) {
  if (const auto i = n.value_exact<std::int64_t>()) return static_cast<double>(*i);
  return n.value_exact<double>().value_or(0.0);
}

// One op's table with typed, range-checked getters whose errors name the op and the key.
class OpTable {
 public:
  OpTable(const Params& p, const toml::table& t, std::size_t index, std::string name)
      : p_(p), t_(t), index_(index), name_(std::move(name)) {}

  [[noreturn]] void fail(const toml::node& at, const std::string& key,
                         const std::string& msg) const {
    throw ConfigError(
        fmt::format("{}: op {} ({}) key '{}': {}", p_.where(at, "ops"), index_, name_, key, msg));
  }
  const toml::node* get(const std::string& key) const { return t_.get(key); }

  double number(const std::string& key, double def, double lo, double hi) const {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_number()) fail(*n, key, fmt::format("expected a number in [{}, {}]", lo, hi));
    const double v = number_of(*n);
    if (!(v >= lo && v <= hi))
      fail(*n, key, fmt::format("{} is out of range: expected a number in [{}, {}]", v, lo, hi));
    return v;
  }
  bool boolean(const std::string& key, bool def) const {
    const toml::node* n = get(key);
    if (!n) return def;
    if (!n->is_boolean()) fail(*n, key, "expected true or false");
    return *n->value<bool>();
  }
  std::string choice(const std::string& key, const std::string& def,
                     const std::vector<std::string>& choices) const {
    const toml::node* n = get(key);
    if (!n) return def;
    const std::string options = fmt::format("{}", fmt::join(choices, ", "));
    if (!n->is_string()) fail(*n, key, "expected one of: " + options);
    const std::string v = *n->value<std::string>();
    if (std::find(choices.begin(), choices.end(), v) == choices.end())
      fail(*n, key, fmt::format("'{}' is not one of: {}", v, options));
    return v;
  }
  // A number or a list of 1..max_len numbers in [lo, hi].
  std::vector<double> numbers(const std::string& key, std::vector<double> def, std::size_t max_len,
                              double lo, double hi) const {
    const toml::node* n = get(key);
    if (!n) return def;
    const std::string expect =
        fmt::format("expected a number or a list of 1 to {} numbers in [{}, {}]", max_len, lo, hi);
    std::vector<double> out;
    if (n->is_number()) {
      out.push_back(number_of(*n));
    } else if (auto* a = n->as_array(); a && !a->empty() && a->size() <= max_len) {
      for (auto& e : *a) {
        if (!e.is_number()) fail(e, key, expect);
        out.push_back(number_of(e));
      }
    } else {
      fail(*n, key, expect);
    }
    for (double v : out)
      if (!(v >= lo && v <= hi)) fail(*n, key, fmt::format("{} is out of range: {}", v, expect));
    return out;
  }
  // `size`: an integer (square) or [h, w], each in [1, kMaxSide].
  void size(const std::string& key, int& h, int& w) const {
    const toml::node* n = get(key);
    if (!n) fail(t_, key, "is required: an integer or [height, width]");
    std::vector<std::int64_t> v;
    if (n->is_integer()) {
      v = {*n->value<std::int64_t>(), *n->value<std::int64_t>()};
    } else if (auto* a = n->as_array();
               a && a->size() == 2 && a->get(0)->is_integer() && a->get(1)->is_integer()) {
      v = {*a->get(0)->value<std::int64_t>(), *a->get(1)->value<std::int64_t>()};
    } else {
      fail(*n, key, "expected an integer or [height, width]");
    }
    for (auto x : v)
      if (x < 1 || x > kMaxSide)
        fail(*n, key, fmt::format("{} is out of range: sizes are in [1, {}]", x, kMaxSide));
    h = static_cast<int>(v[0]);
    w = static_cast<int>(v[1]);
  }
  // [lo, hi] with lo <= hi, both in [min, max].
  void range(const std::string& key, float& lo, float& hi, double min, double max) const {
    const toml::node* n = get(key);
    if (!n) return;
    auto* a = n->as_array();
    const std::string expect =
        fmt::format("expected [low, high] with {} <= low <= high <= {}", min, max);
    if (!a || a->size() != 2 || !a->get(0)->is_number() || !a->get(1)->is_number())
      fail(*n, key, expect);
    const double l = number_of(*a->get(0)), h = number_of(*a->get(1));
    if (!(l >= min && l <= h && h <= max)) fail(*n, key, fmt::format("[{}, {}]: {}", l, h, expect));
    lo = static_cast<float>(l);
    hi = static_cast<float>(h);
  }
  void fill(const std::string& key, AugmentOp& op, double lo, double hi) const {
    const auto v = numbers(key, {0.0}, 3, lo, hi);
    op.n_fill = static_cast<int>(v.size());
    for (std::size_t k = 0; k < v.size(); ++k) op.fill[k] = static_cast<float>(v[k]);
  }

 private:
  const Params& p_;
  const toml::table& t_;
  std::size_t index_;
  std::string name_;
};

struct OpSchema {
  OpKind kind;
  std::vector<std::string> keys;  // besides "op"
  std::string doc;
  std::function<void(const OpTable&, AugmentOp&)> parse;
};

aug::Interp interp_of(const OpTable& t, const std::string& def) {
  return t.choice("interpolation", def, {"bilinear", "nearest"}) == "nearest"
             ? aug::Interp::nearest
             : aug::Interp::bilinear;
}

const std::map<std::string, OpSchema>& op_schemas() {
  static const std::map<std::string, OpSchema> s = {
      {"resize",
       {OpKind::resize,
        {"size", "antialias"},
        "size = N (smaller edge) or [h, w]; antialias = true (when shrinking)",
        [](const OpTable& t, AugmentOp& op) {
          t.size("size", op.size_h, op.size_w);
          if (t.get("size")->is_integer()) op.size_w = 0;  // torchvision: int -> smaller edge
          op.antialias = t.boolean("antialias", true);
        }}},
      {"center_crop",
       {OpKind::center_crop,
        {"size"},
        "size = N or [h, w] (pads with 0 when larger)",
        [](const OpTable& t, AugmentOp& op) { t.size("size", op.size_h, op.size_w); }}},
      {"random_crop",
       {OpKind::random_crop,
        {"size", "padding", "fill", "padding_mode", "pad_if_needed"},
        "size; padding = N | [lr, tb] | [l, t, r, b]; fill = 0; padding_mode = "
        "constant|edge|reflect|symmetric; pad_if_needed = false",
        [](const OpTable& t, AugmentOp& op) {
          t.size("size", op.size_h, op.size_w);
          if (const toml::node* n = t.get("padding")) {
            std::vector<std::int64_t> v;
            if (n->is_integer())
              v.push_back(*n->value<std::int64_t>());
            else if (auto* a = n->as_array())
              for (auto& e : *a)
                if (e.is_integer()) v.push_back(*e.value<std::int64_t>());
            const bool ok = (v.size() == 1 || v.size() == 2 || v.size() == 4) &&
                            (!n->as_array() || n->as_array()->size() == v.size());
            if (!ok)
              t.fail(*n, "padding",
                     "expected N, [left/right, top/bottom] or [left, top, right, bottom] integers");
            for (auto x : v)
              if (x < 0 || x > kMaxPadding)
                t.fail(*n, "padding", fmt::format("{} is out of range [0, {}]", x, kMaxPadding));
            if (v.size() == 1) v = {v[0], v[0], v[0], v[0]};
            if (v.size() == 2) v = {v[0], v[1], v[0], v[1]};
            op.pad_l = int(v[0]), op.pad_t = int(v[1]), op.pad_r = int(v[2]), op.pad_b = int(v[3]);
          }
          t.fill("fill", op, 0, 255);
          const std::string m =
              t.choice("padding_mode", "constant", {"constant", "edge", "reflect", "symmetric"});
          op.pad_mode = m == "edge"        ? aug::PadMode::edge
                        : m == "reflect"   ? aug::PadMode::reflect
                        : m == "symmetric" ? aug::PadMode::symmetric
                                           : aug::PadMode::constant;
          op.pad_if_needed = t.boolean("pad_if_needed", false);
          if (op.pad_if_needed &&
              (op.pad_mode == aug::PadMode::reflect || op.pad_mode == aug::PadMode::symmetric))
            t.fail(*t.get("pad_if_needed"), "pad_if_needed",
                   "is supported with padding_mode constant or edge only");
        }}},
      {"hflip",
       {OpKind::hflip,
        {"p"},
        "p = 0.5",
        [](const OpTable& t, AugmentOp& op) { op.p = float(t.number("p", 0.5, 0, 1)); }}},
      {"rotate",
       {OpKind::rotate,
        {"degrees", "fill", "interpolation"},
        "degrees (angle uniform in [-degrees, degrees]); fill = 0; interpolation = "
        "bilinear|nearest",
        [](const OpTable& t, AugmentOp& op) {
          if (!t.get("degrees"))
            t.fail(*t.get("op"), "degrees", "is required: a number in [0, 360]");
          op.degrees = float(t.number("degrees", 0, 0, 360));
          t.fill("fill", op, 0, 255);
          op.interp = interp_of(t, "bilinear");
        }}},
      {"normalize",
       {OpKind::normalize,
        {"mean", "std", "dtype"},
        "mean, std: per channel on the 0..1 scale; u8 HWC -> f32 CHW; dtype = f32|bf16 (bf16 "
        "halves "
        "the batch's bytes; rounded to nearest even)",
        [](const OpTable& t, AugmentOp& op) {
          for (const char* key : {"mean", "std"})
            if (!t.get(key))
              t.fail(*t.get("op"), key, "is required: a number or a list of 1 or 3 numbers");
          const auto m = t.numbers("mean", {}, 3, -1e6, 1e6),
                     s = t.numbers("std", {}, 3, 1e-12, 1e6);
          if (m.size() != s.size() && m.size() != 1 && s.size() != 1)
            t.fail(*t.get("std"), "std",
                   fmt::format("has {} values but mean has {}", s.size(), m.size()));
          op.n_stats = static_cast<int>(std::max(m.size(), s.size()));
          for (int k = 0; k < op.n_stats; ++k) {
            op.mean[k] = float(m[m.size() == 1 ? 0 : k]);
            op.std[k] = float(s[s.size() == 1 ? 0 : k]);
          }
          op.bf16 = t.choice("dtype", "f32", {"f32", "bf16"}) == "bf16";
        }}},
      {"random_resized_crop",
       {OpKind::random_resized_crop,
        {"size", "scale", "ratio", "antialias"},
        "size; scale = [0.08, 1.0]; ratio = [0.75, 1.3333]; antialias = true",
        [](const OpTable& t, AugmentOp& op) {
          t.size("size", op.size_h, op.size_w);
          t.range("scale", op.scale_lo, op.scale_hi, 1e-6, 1.0);
          t.range("ratio", op.ratio_lo, op.ratio_hi, 1e-3, 1e3);
          op.antialias = t.boolean("antialias", true);
        }}},
      {"trivial_augment_wide",
       {OpKind::trivial_augment_wide,
        {"num_magnitude_bins", "interpolation", "fill"},
        "num_magnitude_bins = 31; interpolation = nearest|bilinear; fill (default: none)",
        [](const OpTable& t, AugmentOp& op) {
          op.num_bins = int(t.number("num_magnitude_bins", 31, 2, 1024));
          if (const toml::node* n = t.get("num_magnitude_bins"); n && !n->is_integer())
            t.fail(*n, "num_magnitude_bins", "expected an integer in [2, 1024]");
          op.interp = interp_of(t, "nearest");
          op.has_fill = t.get("fill") != nullptr;
          t.fill("fill", op, 0, 255);
        }}},
      {"random_erasing",
       {OpKind::random_erasing,
        {"p", "scale", "ratio", "value"},
        "p = 0.5; scale = [0.02, 0.33]; ratio = [0.3, 3.3]; value = 0 | [v, ...] | \"random\"",
        [](const OpTable& t, AugmentOp& op) {
          op.p = float(t.number("p", 0.5, 0, 1));
          op.scale_lo = 0.02f, op.scale_hi = 0.33f, op.ratio_lo = 0.3f, op.ratio_hi = 3.3f;
          t.range("scale", op.scale_lo, op.scale_hi, 0.0, 1.0);
          t.range("ratio", op.ratio_lo, op.ratio_hi, 1e-3, 1e3);
          const toml::node* v = t.get("value");
          if (v && v->is_string()) {
            if (*v->value<std::string>() != "random")
              t.fail(*v, "value", "expected a number, a list of numbers or \"random\"");
            op.random_value = true;
          } else {
            t.fill("value", op, -1e6, 1e6);
          }
        }}},
      {"to_rgb",
       {OpKind::to_rgb,
        {},
        "repeat a gray channel three times (RGB unchanged)",
        [](const OpTable&, AugmentOp&) {}}},
  };
  return s;
}

}  // namespace

const std::vector<std::string>& augment_op_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (auto& [k, _] : op_schemas()) v.push_back(k);
    return v;
  }();
  return names;
}

std::string augment_ops_doc() {
  std::vector<std::string> parts;
  for (auto& [name, s] : op_schemas()) parts.push_back(fmt::format("{} ({})", name, s.doc));
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
    auto it = op_schemas().find(name);
    if (it == op_schemas().end()) {
      const std::string hint = closest(name, augment_op_names());
      throw ConfigError(
          fmt::format("{}: op {}: unknown op '{}'{}; known ops: {}", p.where(*name_node, "ops"), k,
                      name, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint), known));
    }
    const OpSchema& schema = it->second;
    const OpTable table(p, *t, k, name);
    for (auto&& [key, value] : *t) {
      const std::string ks(key.str());
      if (ks == "op" || std::find(schema.keys.begin(), schema.keys.end(), ks) != schema.keys.end())
        continue;
      table.fail(
          value, ks,
          fmt::format("unknown key; {} takes: {}", name,
                      schema.keys.empty() ? std::string("no keys")
                                          : fmt::format("{}", fmt::join(schema.keys, ", "))));
    }
    AugmentOp op;
    op.kind = schema.kind;
    schema.parse(table, op);
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

// Validation and resolution of the stage graph (see graph.hpp).
#include "pipeline/graph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>

#include "pipeline/error.hpp"

namespace ft {

namespace {

std::string pos_str(const toml::node& n, const std::string& file, const SourcePos& fallback) {
  const auto& s = n.source();
  if (s.begin.line == 0 || (s.path && *s.path == kOverrideSource))
    return (file.empty() ? std::string("<config>") : file) + " (--set)";
  return SourcePos{file, static_cast<int>(s.begin.line), static_cast<int>(s.begin.column)}.str();
  (void)fallback;
}

bool type_matches(const toml::node& v, ParamType t) {
  const auto all = [&](auto pred) {
    auto* a = v.as_array();
    return a && std::all_of(a->begin(), a->end(), pred);
  };
  switch (t) {
    case ParamType::boolean:
      return v.is_boolean();
    case ParamType::integer:
      return v.is_integer();
    case ParamType::number:
      return v.is_number();
    case ParamType::string:
      return v.is_string();
    case ParamType::integer_list:
      return all([](const toml::node& e) { return e.is_integer(); });
    case ParamType::number_list:
      return all([](const toml::node& e) { return e.is_number(); });
    case ParamType::string_list:
      return all([](const toml::node& e) { return e.is_string(); });
    case ParamType::table:
      return v.is_table();
    case ParamType::table_list:
      return all([](const toml::node& e) { return e.is_table(); });
  }
  return false;
}

// Bounds print as integers for integer keys ("in [1, 1000000]", not "in [1, 1e+06]").
std::string bound_text(double b, bool integer) {
  if (integer && std::abs(b) < 9.2e18) return fmt::format("{}", static_cast<std::int64_t>(b));
  return fmt::format("{}", b);
}

std::string range_text(const ParamSpec& s) {
  const bool integer = s.type == ParamType::integer || s.type == ParamType::integer_list;
  if (s.min && s.max)
    return fmt::format("in {}{}, {}{}", s.min_exclusive ? "(" : "[", bound_text(*s.min, integer),
                       bound_text(*s.max, integer), s.max_exclusive ? ")" : "]");
  if (s.min) return fmt::format("{} {}", s.min_exclusive ? ">" : ">=", bound_text(*s.min, integer));
  if (s.max) return fmt::format("{} {}", s.max_exclusive ? "<" : "<=", bound_text(*s.max, integer));
  return "";
}

// x < b and x > b for a 64-bit integer x and a bound b, exactly: converting x to double rounds
// beyond 2^53 (and toml++ refuses that conversion outright), so compare against b's integer
// floor/ceiling instead. For integer x: x < b <=> x < ceil(b), x > b <=> x > floor(b).
constexpr double kTwo63 = 9223372036854775808.0;
bool int_below(std::int64_t x, double b) {
  const double c = std::ceil(b);
  if (c >= kTwo63) return true;
  if (c < -kTwo63) return false;
  return x < static_cast<std::int64_t>(c);
}
bool int_above(std::int64_t x, double b) {
  const double f = std::floor(b);
  if (f >= kTwo63) return false;
  if (f < -kTwo63) return true;
  return x > static_cast<std::int64_t>(f);
}

bool below_min(double x, const ParamSpec& s) {
  return s.min && (s.min_exclusive ? !(x > *s.min) : !(x >= *s.min));
}
bool above_max(double x, const ParamSpec& s) {
  return s.max && (s.max_exclusive ? !(x < *s.max) : !(x <= *s.max));
}

void check_choice(const std::string& x, const ParamSpec& s, const std::string& where) {
  if (s.choices.empty() || std::find(s.choices.begin(), s.choices.end(), x) != s.choices.end())
    return;
  const std::string hint = closest(x, s.choices);
  throw ConfigError(fmt::format("{}: '{}' is not one of: {}{}", where, x,
                                fmt::join(s.choices, ", "),
                                hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint)));
}

void check_range(const toml::node& v, const ParamSpec& s, const std::string& where) {
  const auto check_one = [&](const toml::node& e) {
    if (const auto str = e.value_exact<std::string>()) return check_choice(*str, s, where);
    if (const auto i = e.value_exact<std::int64_t>()) {
      const bool low = s.min && (s.min_exclusive ? !int_above(*i, *s.min) : int_below(*i, *s.min));
      const bool high = s.max && (s.max_exclusive ? !int_below(*i, *s.max) : int_above(*i, *s.max));
      if (low || high)
        throw ConfigError(
            fmt::format("{}: {} is out of range: expected {}", where, *i, range_text(s)));
      return;
    }
    const auto x = e.value_exact<double>();
    if (!x) return;
    // No number key means anything with nan or inf (a NaN warmup was ignored, an infinite
    // factor made an infinite learning rate).
    if (!std::isfinite(*x))
      throw ConfigError(fmt::format("{}: {} is not a finite number; expected {}", where, *x,
                                    s.min || s.max ? range_text(s) : "a finite number"));
    if (below_min(*x, s) || above_max(*x, s))
      throw ConfigError(
          fmt::format("{}: {} is out of range: expected {}", where, *x, range_text(s)));
  };
  if (auto* a = v.as_array())
    for (auto& e : *a) check_one(e);
  else
    check_one(v);
}

// The value of the table's `kind` key, given or by default ("" when the table has none).
std::string kind_of(const toml::table& values, const std::vector<ParamSpec>& specs) {
  if (const auto k = values["kind"].value<std::string>()) return *k;
  for (const auto& s : specs)
    if (s.name == "kind" && s.default_value.size() >= 2)
      return s.default_value.substr(1, s.default_value.size() - 2);
  return "";
}

void validate_table(const toml::table& values, const std::vector<ParamSpec>& specs,
                    const std::string& what, const std::string& file, const SourcePos& owner_pos,
                    bool reserved, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  const std::string kind = kind_of(values, specs);
  for (auto&& [k, v] : values) {
    const std::string key(k.str());
    if (reserved && is_reserved_stage_key(key)) continue;
    const std::string where =
        fmt::format("{}: {} key '{}{}'", pos_str(v, file, owner_pos), what, prefix, key);
    auto it =
        std::find_if(specs.begin(), specs.end(), [&](const ParamSpec& s) { return s.name == key; });
    if (it == specs.end()) {
      const std::string hint = closest(key, names);
      throw ConfigError(
          fmt::format("{}: unknown key{}; known keys: {}", where,
                      hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                      names.empty() ? "(none)" : fmt::format("{}", fmt::join(names, ", "))));
    }
    if (!type_matches(v, it->type))
      throw ConfigError(fmt::format("{}: expected a {}", where, param_type_name(it->type)));
    check_range(v, *it, where);
    if (!it->fields.empty())
      validate_table(*v.as_table(), it->fields, what, file, owner_pos, false, prefix + key + ".");
  }
  // After every key's own checks, so a misspelt kind is named before the keys it strands.
  for (auto&& [k, v] : values) {
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&](const ParamSpec& s) { return s.name == k.str(); });
    if (it == specs.end() || it->applies.empty() ||
        std::find(it->applies.begin(), it->applies.end(), kind) != it->applies.end())
      continue;
    throw ConfigError(fmt::format(
        "{}: {} key '{}{}': only for kind {}, and kind is \"{}\"; remove it or "
        "change kind",
        pos_str(v, file, owner_pos), what, prefix, k.str(), fmt::join(it->applies, ", "), kind));
  }
  for (const auto& s : specs)
    if (s.default_value.empty() && !s.optional && !values.contains(s.name))
      throw ConfigError(fmt::format("{}: {} is missing required key '{}{}' ({}: {})",
                                    owner_pos.str(), what, prefix, s.name, param_type_name(s.type),
                                    s.doc));
}

}  // namespace

std::string param_range_text(const ParamSpec& spec) { return range_text(spec); }

bool ResolvedStage::active(Split s) const {
  return std::find(splits.begin(), splits.end(), s) != splits.end();
}

void validate_params(const toml::table& values, const std::vector<ParamSpec>& specs,
                     const std::string& what, const std::string& file, const SourcePos& owner_pos,
                     bool reserved) {
  validate_table(values, specs, what, file, owner_pos, reserved, "");
}

void validate_sections(const Config& cfg, const Registry& registry) {
  std::vector<std::string> known{"stage"};
  for (const auto& [name, sec] : registry.sections()) known.push_back(name);
  for (auto&& [k, v] : cfg.root) {
    const std::string key(k.str());
    if (key == "stage") continue;
    const SourcePos pos{cfg.file, static_cast<int>(v.source().begin.line),
                        static_cast<int>(v.source().begin.column)};
    const auto* sec = registry.find_section(key);
    if (!sec) {
      const std::string hint = closest(key, known);
      throw ConfigError(fmt::format("{}: unknown table '{}'{}; known tables: {}", pos.str(), key,
                                    hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                    fmt::join(known, ", ")));
    }
    auto* t = v.as_table();
    if (!t) throw ConfigError(fmt::format("{}: '{}' must be a table ([{}])", pos.str(), key, key));
    validate_params(*t, sec->params, "[" + key + "]", cfg.file, pos);
  }
  // Cross-key checks, absent tables included: their defaults must hold together too.
  for (const auto& [name, sec] : registry.sections()) {
    if (!sec.check) continue;
    const toml::table* t = cfg.root[name].as_table();
    sec.check(Params::section(t, name, cfg.file, &sec.params));
  }
}

namespace {

using StageDecls = std::vector<StageDecl>;

// A declared stage's kind and parameters, validated; constructing the stage validates what the
// schema cannot express (e.g. each augment op's keys); construction is cheap by contract (heavy
// work belongs in setup()).
ResolvedStage resolve_stage(const StageDecl& d, const Registry& registry, const std::string& file) {
  const StageKind* kind = registry.find(d.kind);
  if (!kind) {
    const std::string hint = closest(d.kind, registry.names());
    throw ConfigError(fmt::format("{}: stage '{}' has unknown kind '{}'{}; known kinds: {}",
                                  d.pos.str(), d.id, d.kind,
                                  hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                  fmt::join(registry.names(), ", ")));
  }
  const std::string what = fmt::format("stage '{}' ({})", d.id, d.kind);
  validate_params(*d.table, kind->params, what, file, d.pos, /*reserved=*/true);
  ResolvedStage r;
  r.id = d.id;
  r.kind = kind;
  r.pos = d.pos;
  r.params = Params(d.table, d.id, file, &kind->params);
  (void)kind->make(r.params);
  r.access = kind->access ? kind->access(r.params) : Access{};
  r.splits = d.splits.empty() ? kind->default_splits : d.splits;
  r.concurrency =
      kind->serial ? 1 : (d.concurrency >= 0 ? d.concurrency : kind->default_concurrency);
  if (kind->serial && d.concurrency > 1)
    throw ConfigError(
        fmt::format("{}: stage '{}' ({}) is stateful and runs serially; concurrency {} "
                    "is not allowed",
                    d.pos.str(), d.id, d.kind, d.concurrency));
  return r;
}

// The 'after' links: every stage but the roots names an existing upstream, none itself, and no
// stage has two followers. Returns the roots (stages with no 'after'); fills follower.
std::vector<std::size_t> link_stages(const StageDecls& decls,
                                     const std::map<std::string, std::size_t>& by_id,
                                     std::map<std::string, std::size_t>& follower) {
  std::vector<std::size_t> roots;
  for (std::size_t i = 0; i < decls.size(); ++i) {
    const auto& d = decls[i];
    if (d.after.empty()) {
      roots.push_back(i);
      continue;
    }
    if (!by_id.contains(d.after)) {
      std::vector<std::string> ids;
      for (auto& [id, _] : by_id) ids.push_back(id);
      const std::string hint = closest(d.after, ids);
      throw ConfigError(
          fmt::format("{}: stage '{}' key 'after': no stage with id '{}'{}", d.pos.str(), d.id,
                      d.after, hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint)));
    }
    if (d.after == d.id)
      throw ConfigError(
          fmt::format("{}: stage '{}' comes after itself (a cycle)", d.pos.str(), d.id));
    if (auto [it, fresh] = follower.emplace(d.after, i); !fresh)
      throw ConfigError(
          fmt::format("{}: stages '{}' and '{}' both come after '{}'; flowtrain runs a chain of "
                      "stages, so give each stage a distinct upstream",
                      d.pos.str(), decls[it->second].id, d.id, d.after));
  }
  return roots;
}

// The one root of the chain; no root means a cycle, named by walking from the first stage.
std::size_t single_root(const StageDecls& decls, const std::vector<std::size_t>& roots,
                        const std::map<std::string, std::size_t>& by_id, const std::string& file) {
  if (roots.empty()) {
    std::vector<std::string> cycle;
    std::set<std::string> seen;
    std::string cur = decls.front().id;
    while (seen.insert(cur).second) {
      cycle.push_back(cur);
      cur = decls[by_id.at(cur)].after;
    }
    cycle.push_back(cur);
    throw ConfigError(fmt::format("{}: the stage graph has a cycle ({}) and no source stage", file,
                                  fmt::join(cycle, " -> ")));
  }
  if (roots.size() > 1)
    throw ConfigError(
        fmt::format("{}: stages '{}' and '{}' both have no 'after'; only the source stage may "
                    "start the chain",
                    decls[roots[1]].pos.str(), decls[roots[0]].id, decls[roots[1]].id));
  return roots[0];
}

// The chain from the root along the followers: every stage reachable, the source first and only
// there.
void order_chain(const StageDecls& decls, std::vector<ResolvedStage>& stages, std::size_t root,
                 const std::map<std::string, std::size_t>& follower, ResolvedGraph& g) {
  for (std::size_t cur = root;;) {
    g.chain.push_back(std::move(stages[cur]));
    auto it = follower.find(decls[cur].id);
    if (it == follower.end()) break;
    cur = it->second;
  }
  if (g.chain.size() != decls.size()) {
    for (std::size_t i = 0; i < decls.size(); ++i) {
      if (std::none_of(g.chain.begin(), g.chain.end(),
                       [&](auto& s) { return s.id == decls[i].id; }))
        throw ConfigError(
            fmt::format("{}: stage '{}' is not reachable from the source '{}' (a cycle through "
                        "'after')",
                        decls[i].pos.str(), decls[i].id, decls[root].id));
    }
  }
  if (!g.chain.front().kind->source)
    throw ConfigError(
        fmt::format("{}: the first stage '{}' ({}) is not a source; sources: read_files",
                    g.chain.front().pos.str(), g.chain.front().id, g.chain.front().kind->name));
  for (std::size_t i = 1; i < g.chain.size(); ++i)
    if (g.chain[i].kind->source)
      throw ConfigError(fmt::format("{}: source stage '{}' must come first", g.chain[i].pos.str(),
                                    g.chain[i].id));
}

// Per split, every column a stage reads is written by an active upstream stage.
void check_columns(const ResolvedGraph& g) {
  for (Split split : {Split::train, Split::val, Split::test}) {
    std::set<std::string> written;
    for (const auto& s : g.chain) {
      if (!s.active(split)) continue;
      for (const auto& c : s.access.reads)
        if (!written.contains(c))
          throw ConfigError(
              fmt::format("{}: stage '{}' ({}) reads column '{}', which no upstream stage "
                          "active in the {} split writes",
                          s.pos.str(), s.id, s.kind->name, c, split_name(split)));
      written.insert(s.access.writes.begin(), s.access.writes.end());
    }
  }
}

}  // namespace

ResolvedGraph resolve_graph(const Config& cfg, const Registry& registry) {
  validate_sections(cfg, registry);
  const auto& decls = cfg.stages;
  std::map<std::string, std::size_t> by_id;
  for (std::size_t i = 0; i < decls.size(); ++i) {
    const auto& d = decls[i];
    if (!by_id.emplace(d.id, i).second)
      throw ConfigError(fmt::format("{}: duplicate stage id '{}' (first declared at {})",
                                    d.pos.str(), d.id, decls[by_id[d.id]].pos.str()));
  }
  std::vector<ResolvedStage> stages;
  for (const auto& d : decls) stages.push_back(resolve_stage(d, registry, cfg.file));
  // Wiring: exactly one source with no upstream, a chain (no stage with two followers), no cycles.
  std::map<std::string, std::size_t> follower;
  const std::vector<std::size_t> roots = link_stages(decls, by_id, follower);
  ResolvedGraph g;
  order_chain(decls, stages, single_root(decls, roots, by_id, cfg.file), follower, g);
  check_columns(g);
  return g;
}

std::string describe_graph(const ResolvedGraph& g) {
  std::string out;
  for (std::size_t i = 0; i < g.chain.size(); ++i) {
    const auto& s = g.chain[i];
    std::vector<std::string> splits;
    for (auto sp : s.splits) splits.push_back(split_name(sp));
    out += fmt::format(
        "{:>2}. {:<12} kind={:<12} concurrency={:<9} splits=[{}]\n", i + 1, s.id, s.kind->name,
        s.kind->serial ? "serial"
                       : (s.concurrency == 0 ? "unlimited" : std::to_string(s.concurrency)),
        fmt::join(splits, ","));
    out += fmt::format("    reads [{}]  writes [{}]\n", fmt::join(s.access.reads, ", "),
                       fmt::join(s.access.writes, ", "));
    toml::table own;
    for (auto&& [k, v] : s.params.values())
      if (!is_reserved_stage_key(std::string(k.str()))) own.insert(k, v);
    if (!own.empty()) {
      std::ostringstream p;
      p << toml::toml_formatter(own, toml::format_flags::none);
      std::string text = p.str();
      for (char& ch : text)
        if (ch == '\n') ch = ';';
      out += "    params: " + text + "\n";
    }
  }
  return out;
}

}  // namespace ft

// Params: a stage's validated parameter table with typed getters that fall back to the schema's
// defaults (parsed once from their TOML text), and source positions for error messages.
#include <fmt/format.h>

#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "pipeline/stage.hpp"

namespace ft {

const char* param_type_name(ParamType t) {
  switch (t) {
    case ParamType::boolean:
      return "boolean";
    case ParamType::integer:
      return "integer";
    case ParamType::number:
      return "number";
    case ParamType::string:
      return "string";
    case ParamType::integer_list:
      return "list of integers";
    case ParamType::number_list:
      return "list of numbers";
    case ParamType::string_list:
      return "list of strings";
    case ParamType::table:
      return "table";
    case ParamType::table_list:
      return "list of tables";
  }
  return "?";
}

std::string SourcePos::str() const {
  if (line <= 0) return file.empty() ? std::string("<override>") : file;
  return fmt::format("{}:{}:{}", file, line, column);
}

const toml::table& Params::empty_table() {
  static const toml::table empty;
  return empty;
}

Params::Params(toml::table values, std::string stage_id, std::string file,
               const std::vector<ParamSpec>* specs)
    : Params(static_cast<const toml::table*>(nullptr), std::move(stage_id), std::move(file),
             specs) {
  owned_ = std::make_shared<const toml::table>(std::move(values));
  values_ = owned_.get();
}

Params::Params(const toml::table* view, std::string stage_id, std::string file,
               const std::vector<ParamSpec>* specs)
    : values_(view ? view : &empty_table()),
      stage_id_(std::move(stage_id)),
      file_(std::move(file)),
      owner_(fmt::format("stage '{}'", stage_id_)) {
  if (!specs) return;
  for (const auto& spec : *specs) {
    if (spec.default_value.empty()) continue;
    auto parsed = toml::parse("v = " + spec.default_value);
    defaults_.insert_or_assign(spec.name, *parsed.get("v"));
  }
}

Params Params::section(const toml::table* view, const std::string& name, std::string file,
                       const std::vector<ParamSpec>* specs) {
  Params p(view, name, std::move(file), specs);
  p.owner_ = "[" + name + "]";
  return p;
}

bool Params::has(const std::string& key) const { return values_->contains(key); }

const toml::node* Params::value_or_default(const std::string& key) const {
  if (auto* n = values_->get(key)) return n;
  if (auto* n = defaults_.get(key)) return n;
  return nullptr;
}

namespace {

[[noreturn]] void missing(const Params& p, const std::string& key, const char* type) {
  throw ConfigError(fmt::format("{}: expected a {} and none was given", p.where(key), type));
}

// A number node as a double. An integer beyond 2^53 converts with rounding (toml++'s value<double>
// refuses it and returns nothing, which read as garbage before).
double as_double(const toml::node& n) {
  if (const auto i = n.value_exact<std::int64_t>()) return static_cast<double>(*i);
  return n.value_exact<double>().value_or(0.0);
}

}  // namespace

bool Params::get_bool(const std::string& key) const {
  auto* n = value_or_default(key);
  if (!n || !n->is_boolean()) missing(*this, key, "boolean");
  return n->value<bool>().value();
}

std::int64_t Params::get_int(const std::string& key) const {
  auto* n = value_or_default(key);
  if (!n || !n->is_integer()) missing(*this, key, "integer");
  return n->value<std::int64_t>().value();
}

double Params::get_number(const std::string& key) const {
  auto* n = value_or_default(key);
  if (!n || !n->is_number()) missing(*this, key, "number");
  return as_double(*n);
}

std::string Params::get_string(const std::string& key) const {
  auto* n = value_or_default(key);
  if (!n || !n->is_string()) missing(*this, key, "string");
  return n->value<std::string>().value();
}

const toml::array* Params::get_array(const std::string& key) const {
  auto* n = value_or_default(key);
  return n ? n->as_array() : nullptr;
}

const toml::table* Params::get_table(const std::string& key) const {
  auto* n = value_or_default(key);
  return n ? n->as_table() : nullptr;
}

std::vector<std::int64_t> Params::get_int_list(const std::string& key) const {
  std::vector<std::int64_t> out;
  if (auto* a = get_array(key))
    for (auto& e : *a) out.push_back(e.value<std::int64_t>().value_or(0));
  return out;
}

std::vector<double> Params::get_number_list(const std::string& key) const {
  std::vector<double> out;
  if (auto* a = get_array(key))
    for (auto& e : *a) out.push_back(as_double(e));
  return out;
}

std::vector<std::string> Params::get_string_list(const std::string& key) const {
  std::vector<std::string> out;
  if (auto* a = get_array(key))
    for (auto& e : *a) out.push_back(e.value<std::string>().value_or(""));
  return out;
}

namespace {

bool from_file(const toml::source_region& src) {
  return src.begin.line > 0 && !(src.path && *src.path == kOverrideSource);
}

}  // namespace

std::string Params::where(const toml::node& node, const std::string& key) const {
  const auto& src = node.source();
  std::string pos = from_file(src) ? fmt::format("{}:{}:{}", src.path ? *src.path : file_,
                                                 src.begin.line, src.begin.column)
                                   : (file_.empty() ? std::string("<config>") : file_) + " (--set)";
  return fmt::format("{}: {} key '{}'", pos, owner_, key);
}

std::string Params::where(const std::string& key) const {
  if (auto* n = values_->get(key)) return where(*n, key);
  if (from_file(values_->source())) return where(*values_, key);
  return fmt::format("{}: {} key '{}'", file_.empty() ? "<config>" : file_, owner_, key);
}

}  // namespace ft

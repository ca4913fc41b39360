// The one declaration type of a config key: name, type, default, doc, range and choices. Plain
// data with no dependency beyond the standard library, so kernels/ (augmentation ops declare
// their own keys beside their functors) can include it without pulling in toml++ or the runtime.
// Written with designated initialisers: {.name = "lr", .type = ParamType::number, ...}.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ft {

enum class ParamType {
  boolean,
  integer,
  number,
  string,
  integer_list,
  number_list,
  string_list,
  table,
  table_list
};
const char* param_type_name(ParamType t);

struct ParamSpec {
  std::string name;
  ParamType type;
  std::string doc;
  std::string default_value;         // TOML text of the default ("" = required when !optional)
  bool optional = false;             // no default and may be absent
  std::optional<double> min, max;    // range for numbers and integers (and their lists' elements)
  std::vector<std::string> choices;  // allowed values for strings (and string lists' elements)
  bool min_exclusive = false;        // min is a strict bound (> min)
  bool max_exclusive = false;        // max is a strict bound (< max)
  // The values of the table's own `kind` key this key is for (empty = every kind); a key set
  // for another kind is refused, since it would do nothing.
  std::vector<std::string> applies;
  // type == table: the keys of the inner table (validated like the outer ones).
  std::vector<ParamSpec> fields;
};

}  // namespace ft

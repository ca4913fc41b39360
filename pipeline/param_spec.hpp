// The one declaration type of a config key: name, type, default, doc, range and choices. Plain
// data with no dependency beyond the standard library, so kernels/ (augmentation ops declare
// their own keys beside their functors) can include it without pulling in toml++ or the runtime.
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
  std::optional<double> min, max;    // inclusive range for numbers and integers
  std::vector<std::string> choices;  // allowed values for strings
};

}  // namespace ft

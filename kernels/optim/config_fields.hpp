// Config keys of the optimizer and schedule tables, one place for names, types, defaults and docs,
// so the config reader and `flowtrain stages`/README cannot drift from ScheduleSpec/SgdOptions.
// Values arrive as a small variant (the config layer converts TOML); setters throw
// std::invalid_argument naming the key (the caller adds file:line:col) for a wrong type, and for
// a value that is not finite or out of the key's range (e.g. gamma <= 0, div_factor <= 0).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "kernels/optim/schedule.hpp"
#include "kernels/optim/sgd.hpp"

namespace ft::optim {

using FieldValue = std::variant<bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                                std::vector<std::string>>;

struct FieldDoc {
  const char* key;
  const char* type;     // "int", "float", "bool", "string", "int list", "string list"
  const char* dflt;     // as a user would write it; "" when required or derived
  const char* applies;  // schedule kinds the key is for ("" = all / optimizer)
  const char* doc;
};

// [optimizer]: kind = "sgd", lr, momentum, dampening, nesterov, weight_decay,
// no_decay = ["bias", "norm"] ("batchnorm" accepted for "norm"), max_grad_norm.
const std::vector<FieldDoc>& sgd_fields();
void set_sgd_field(SgdOptions& options, const std::string& key, const FieldValue& value);

// The main schedule's table ([schedule] main = { kind = "cosine", ... }). Warmup length is in
// epochs or steps in the config; the caller converts it to scheduler steps (warmup_steps) and
// sets warmup_start_factor itself.
const std::vector<FieldDoc>& schedule_fields();
void set_schedule_field(ScheduleSpec& spec, const std::string& key, const FieldValue& value);

}  // namespace ft::optim

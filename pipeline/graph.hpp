// Graph validation: a Config's stage declarations checked against the registry's schemas and
// resolved into a chain (source first), with each stage's parameters, column access, splits and
// concurrency. Nothing runs before this succeeds; every error names file:line:col and the key.
#pragma once

#include <string>
#include <vector>

#include "pipeline/config.hpp"
#include "pipeline/registry.hpp"

namespace ft {

struct ResolvedStage {
  std::string id;
  const StageKind* kind = nullptr;
  Params params;
  Access access;
  std::vector<Split> splits;
  int concurrency = 0;  // 1 for serial stages; 0 = unlimited
  SourcePos pos;
  bool active(Split s) const;
};

struct ResolvedGraph {
  std::vector<ResolvedStage> chain;  // in flow order; chain[0] is the source
};

// Checks a parameter table against a schema: unknown keys (with a suggestion), types, ranges,
// choices, required keys. `what` names the owner in messages ("stage 'decode'", "[run]").
void validate_params(const toml::table& values, const std::vector<ParamSpec>& specs,
                     const std::string& what, const std::string& file, const SourcePos& owner_pos,
                     bool reserved = false);

// A key's range as messages and docs write it: "in [1, 1024]", "> 0", "in (0, 1]" ("" if none).
std::string param_range_text(const ParamSpec& spec);

// Validates the run-level sections ([run], [model], ...) against the registry's section schemas.
void validate_sections(const Config& cfg, const Registry& registry);

ResolvedGraph resolve_graph(const Config& cfg, const Registry& registry);

// Human-readable resolved graph, for `flowtrain run --dry-run`.
std::string describe_graph(const ResolvedGraph& g);

}  // namespace ft

// String -> stage kind registry (Caffe's layer factory). An unknown kind's error lists the known
// ones.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "pipeline/stage.hpp"

namespace ft {

// A run-level config table ([run], [model], [optimizer], ...), its schema, and the checks that
// involve several of its keys (run after each key passed its own; called with an empty table when
// the config has none, so the defaults are checked together too). `check` throws ConfigError
// naming file:line:col and the key (Params::where).
struct SectionSchema {
  std::string name;
  std::string doc;
  std::vector<ParamSpec> params;
  std::function<void(const Params&)> check;
};

class Registry {
 public:
  void add(StageKind kind);
  void add_section(SectionSchema section);
  const SectionSchema* find_section(const std::string& name) const;
  const std::map<std::string, SectionSchema>& sections() const { return sections_; }
  // nullptr when unknown.
  const StageKind* find(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::map<std::string, StageKind>& kinds() const { return kinds_; }

 private:
  std::map<std::string, StageKind> kinds_;
  std::map<std::string, SectionSchema> sections_;
};

// Every config table and stage kind flowtrain ships (defined in stages/register_all.cpp).
const Registry& builtin_registry();

}  // namespace ft

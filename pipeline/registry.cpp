// The stage-kind registry: name -> schema + factory.
#include "pipeline/registry.hpp"

#include "pipeline/error.hpp"

namespace ft {

void Registry::add(StageKind kind) {
  FT_ASSERT(!kind.name.empty() && kind.make);
  FT_ASSERT(!kinds_.contains(kind.name));
  kinds_.emplace(kind.name, std::move(kind));
}

void Registry::add_section(SectionSchema section) {
  FT_ASSERT(!sections_.contains(section.name));
  sections_.emplace(section.name, std::move(section));
}

const SectionSchema* Registry::find_section(const std::string& name) const {
  auto it = sections_.find(name);
  return it == sections_.end() ? nullptr : &it->second;
}

const StageKind* Registry::find(const std::string& name) const {
  auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, kind] : kinds_) out.push_back(name);
  return out;
}

}  // namespace ft

// The config reference, generated from the registry's schemas (the same ones validation uses).
#pragma once

#include <string>

namespace ft {

std::string stage_docs_text();
std::string stage_docs_markdown();

}  // namespace ft

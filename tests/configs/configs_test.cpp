// Every config shipped in configs/ validates against the built-in registry (what --dry-run does),
// so a schema change cannot silently break the documented recipes.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/stage_docs.hpp"
#include "pipeline/config.hpp"
#include "pipeline/graph.hpp"
#include "pipeline/registry.hpp"

namespace fs = std::filesystem;

TEST_CASE("every shipped config validates") {
  const char* root = std::getenv("FT_SOURCE_ROOT");
  REQUIRE(root);
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(root) / "configs")) {
    if (e.path().extension() != ".toml") continue;
    CAPTURE(e.path().string());
    CHECK_NOTHROW(ft::resolve_graph(ft::load_config(e.path().string()), ft::builtin_registry()));
    ++n;
  }
  CHECK(n >= 17);  // configs/*.toml and the 15 of configs/bhw1/
}

TEST_CASE("docs/CONFIG.md is `flowtrain stages --markdown` (regenerate it after a schema change)") {
  const char* root = std::getenv("FT_SOURCE_ROOT");
  REQUIRE(root);
  std::ifstream in(fs::path(root) / "docs/CONFIG.md", std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  CHECK_MESSAGE(text.str() == ft::stage_docs_markdown(),
                "run: flowtrain stages --markdown > docs/CONFIG.md");
}

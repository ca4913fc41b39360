// Loading a run config: TOML text -> table, `--set` overrides applied, `[[stage]]` declarations
// split into stage id/kind/wiring and the stage's own parameters. Validation against the
// registry's schemas lives in graph.hpp; this file only parses and keeps source positions.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/batch.hpp"
#include "pipeline/stage.hpp"

namespace ft {

struct StageDecl {
  std::string id, kind, after;         // after: the upstream stage id ("" for the source)
  std::vector<Split> splits;           // empty: the kind's default
  int concurrency = -1;                // -1: the kind's default
  const toml::table* table = nullptr;  // the [[stage]] table inside Config::root (stable address)
  SourcePos pos;                       // where the [[stage]] table starts
};

// The source path of values that came from `--set` (messages then say "(--set)").
inline constexpr const char* kOverrideSource = "--set";

// Keys of a [[stage]] table that wire the graph rather than parameterise the stage.
bool is_reserved_stage_key(const std::string& key);

// Node addresses inside `root` are stable under moves; do not copy a Config whose stages are in
// use (StageDecl::table points into it).
struct Config {
  std::string file;  // path as given, for messages
  toml::table root;  // the resolved config (overrides applied)
  std::vector<StageDecl> stages;
};

// Parses `text` (named `file` in messages) and applies overrides ("key=value", see apply_override).
Config parse_config(const std::string& text, const std::string& file,
                    const std::vector<std::string>& overrides = {});
Config load_config(const std::string& path, const std::vector<std::string>& overrides = {});
// The text of a config file. Only a regular file is read: a directory, FIFO or device is refused
// by name (a FIFO would block the read forever). Errors are ConfigErrors naming the path and the
// system's reason.
std::string read_config_text(const std::string& path);

// Writes `header` + the resolved config as TOML to path, through path.tmp and a rename so a
// failure leaves no half-written file; errors name the file and the system's reason (errno).
void write_config_file(const std::filesystem::path& path, const toml::table& root,
                       const std::string& header = "");

// Upper bound of a [[stage]] table's `concurrency` (batches of one stage at once).
inline constexpr std::int64_t kMaxConcurrency = 4096;

// One `--set KEY=VALUE`. KEY is a dotted path: `run.epochs`, `model.kind`, or a stage id first
// (`augment.ops.1.p`, also `stage.augment.device`). Integer segments index arrays; `+N` inserts
// before element N (`+` appends). VALUE is a TOML value (`0.1`, `true`, `[1,2]`, `{op="hflip"}`);
// anything that does not parse as TOML is taken as a string; `~` deletes the key or element.
void apply_override(toml::table& root, const std::string& assignment);

// The resolved config as TOML text (written into the run folder).
std::string to_toml_text(const toml::table& root);

// Edit-distance suggestion: the closest candidate within distance 2, or "".
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace ft

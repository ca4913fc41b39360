// `flowtrain ablate`: a grid of `--set` overrides run one variant after another, each in its own
// run folder under <runs_dir>/<name>/, then a comparison table, ablation.csv and a chart. The
// ablation folder is locked while it runs (run_folder.hpp), and one where this grid's variants,
// ablation.csv or comparison.png already exist is refused unless --overwrite.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ft {

void add_ablate(CLI::App& app);

// Splits "V1,V2,..." at the commas outside brackets, braces and quotes:
// `{op="hflip",p=0.5},~` -> [`{op="hflip",p=0.5}`, `~`].
std::vector<std::string> split_values(const std::string& text);
// Splits one value at the `&`s outside brackets, braces and quotes: `batch&augment.ops=~` is the
// value `batch` plus the override `augment.ops=~` in the same variant.
std::vector<std::string> split_bundle(const std::string& value);

// A folder-name-safe slug of overrides: {"optimizer.lr=0.05"} -> "optimizer.lr-0.05". Only
// [A-Za-z0-9.+_-], at most 80 bytes, never "." or ".." (it always holds a '-'): one plain path
// component whatever the values (`../../x` gives "run.name-.._.._x").
std::string variant_slug(const std::vector<std::string>& assignments);

// summary.json (one flat object of numbers, written by the metrics stage) as key -> value; empty
// when the file is missing. Also read by `flowtrain report`.
std::map<std::string, double> read_summary(const std::filesystem::path& path);

}  // namespace ft

// `flowtrain ablate` (see ablate.hpp). Every variant is validated before
// the first one runs, so a typo in the third value fails in a second, not after two trainings.
#include "cli/ablate.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "cli/plots.hpp"
#include "cli/run.hpp"
#include "cli/run_folder.hpp"
#include "pipeline/error.hpp"

namespace ft {

namespace fs = std::filesystem;

namespace {

// Splits at `sep` outside brackets, braces and quotes.
std::vector<std::string> split_top_level(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote) {
      if (c == '\\' && quote == '"' && i + 1 < text.size()) {
        cur += c;
        cur += text[++i];
        continue;
      }
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == sep && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(cur);
  return out;
}

}  // namespace

std::vector<std::string> split_values(const std::string& text) {
  return split_top_level(text, ',');
}

std::vector<std::string> split_bundle(const std::string& value) {
  return split_top_level(value, '&');
}

std::string variant_slug(const std::vector<std::string>& assignments) {
  std::string slug;
  for (const auto& a : assignments) {
    if (!slug.empty()) slug += "__";
    const auto eq = a.find('=');
    std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (value == "~") value = "none";
    std::string part = a.substr(0, eq) + "=" + value;
    std::string clean;
    for (char c : part) {
      const bool keep =
          std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '-';
      const char out = keep ? c : (c == '=' ? '-' : '_');
      if (out == '_' && (clean.empty() || clean.back() == '_' || clean.back() == '-')) continue;
      if (out == '-' && !clean.empty() && clean.back() == '_')
        clean.back() = '-';
      else
        clean += out;
    }
    while (!clean.empty() && clean.back() == '_') clean.pop_back();
    slug += clean;
  }
  if (slug.size() > 80)
    slug = fmt::format("{}-{:08x}", slug.substr(0, 70), std::hash<std::string>{}(slug)&0xffffffffu);
  return slug.empty() ? "variant" : slug;
}

std::map<std::string, double> read_summary(const fs::path& path) {
  std::map<std::string, double> out;
  std::ifstream in(path);
  if (!in) return out;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  for (std::size_t i = s.find('"'); i != std::string::npos; i = s.find('"', i)) {
    const std::size_t end = s.find('"', i + 1);
    if (end == std::string::npos) break;
    const std::string key = s.substr(i + 1, end - i - 1);
    std::size_t colon = s.find(':', end);
    if (colon == std::string::npos) break;
    std::size_t v = s.find_first_not_of(" \t\n", colon + 1);
    if (v == std::string::npos) break;
    // A string ("device": "cpu") or a list of strings is skipped, not read as the next key.
    if (s[v] == '"' || s[v] == '[') {
      i = s.find(s[v] == '"' ? "\"" : "]", v + 1);
      if (i != std::string::npos) i = s.find('"', i + 1);
      continue;
    }
    out[key] = std::strtod(s.c_str() + v, nullptr);
    i = v;
  }
  return out;
}

namespace {

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct Vary {
  std::string key;
  std::vector<std::string> values;
};

struct Variant {
  std::vector<std::string> values;  // the value taken on each --vary axis, as written
  std::vector<std::string>
      assignments;  // KEY=VALUE overrides (several when a value bundles more with &)
  std::vector<std::string> overrides;  // what is applied: assignments less inserts of nothing
  std::string slug;
  std::string run_dir;
  std::map<std::string, double> summary;
  std::string error;  // empty when the run finished
};

struct AblateOptions {
  std::string config_path;
  std::vector<std::string> vary, sets;
  bool dry_run = false, quiet = false, overwrite = false;
  std::optional<int> threads;
};

std::vector<Vary> parse_varies(const std::vector<std::string>& specs) {
  std::vector<Vary> out;
  for (const auto& spec : specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
      throw ConfigError(fmt::format(
          "--vary '{}': expected KEY=V1,V2,... (e.g. --vary optimizer.lr=0.05,0.1)", spec));
    Vary v{spec.substr(0, eq), split_values(spec.substr(eq + 1))};
    for (const auto& o : out)
      if (o.key == v.key)
        throw ConfigError(fmt::format(
            "--vary: key '{}' is given twice; list all its values in one --vary", v.key));
    for (const auto& val : v.values) {
      if (val.empty())
        throw ConfigError(fmt::format("--vary '{}': an empty value (two commas in a row?)", spec));
      const auto bundle = split_bundle(val);
      for (std::size_t k = 1; k < bundle.size(); ++k)
        if (bundle[k].find('=') == std::string::npos || bundle[k].front() == '=')
          throw ConfigError(
              fmt::format("--vary '{}': '{}' after & must be KEY=VALUE", spec, bundle[k]));
    }
    out.push_back(std::move(v));
  }
  return out;
}

// The cartesian product, the last --vary changing fastest.
std::vector<Variant> make_grid(const std::vector<Vary>& varies) {
  std::vector<Variant> grid{Variant{}};
  for (const auto& v : varies) {
    std::vector<Variant> next;
    for (const auto& g : grid)
      for (const auto& value : v.values) {
        Variant n = g;
        n.values.push_back(value);
        const auto bundle = split_bundle(value);
        for (std::size_t k = 0; k < bundle.size(); ++k) {
          const std::string a = k == 0 ? v.key + "=" + bundle[0] : bundle[k];
          n.assignments.push_back(a);
          // `augment.ops.+1=~`: "insert nothing", the baseline of an insertion ablation.
          const auto eq = a.find('=');
          const auto dot = a.rfind('.', eq);
          const bool insert = a[dot == std::string::npos ? 0 : dot + 1] == '+';
          if (!(insert && a.substr(eq + 1) == "~")) n.overrides.push_back(a);
        }
        next.push_back(std::move(n));
      }
    grid = std::move(next);
  }
  std::map<std::string, int> seen;
  for (auto& g : grid) {
    std::vector<std::string> axes;  // the slug names each axis' value, not what a value bundles
    for (std::size_t k = 0; k < varies.size(); ++k)
      axes.push_back(varies[k].key + "=" + split_bundle(g.values[k])[0]);
    g.slug = variant_slug(axes);
    if (const int k = seen[g.slug]++; k > 0) g.slug += fmt::format("-{}", k + 1);
  }
  return grid;
}

std::string metric(const Variant& v, const char* key, const char* format, double scale = 1.0) {
  if (!v.error.empty()) return "failed";
  const auto it = v.summary.find(key);
  return it == v.summary.end() ? "-" : fmt::format(fmt::runtime(format), it->second * scale);
}

void report(const std::vector<Variant>& grid, const std::vector<Vary>& varies,
            const fs::path& base) {
  std::size_t w = 7;
  for (const auto& v : grid) w = std::max(w, v.slug.size());
  std::string table = fmt::format("{:<{}}  {:>8}  {:>8}  {:>8}  {:>8}  {:>9}\n", "variant", w,
                                  "val top1", "val top5", "val loss", "wall s", "train i/s");
  for (const auto& v : grid)
    table += fmt::format("{:<{}}  {:>8}  {:>8}  {:>8}  {:>8}  {:>9}\n", v.slug, w,
                         metric(v, "val_top1", "{:.2f}%", 100),
                         metric(v, "val_top5", "{:.2f}%", 100), metric(v, "val_loss", "{:.4f}"),
                         metric(v, "wall_s", "{:.1f}"), metric(v, "train_images_per_s", "{:.0f}"));
  std::cout << "\n" << table << std::flush;

  const fs::path csv_path = base / "ablation.csv";
  std::ofstream csv(csv_path);
  csv << "variant,run_dir";
  for (const auto& v : varies) csv << "," << csv_field(v.key);
  csv << ",status,val_top1,val_top5,val_loss,wall_s,train_images_per_s,train_loss,epochs\n";
  for (const auto& v : grid) {
    csv << csv_field(v.slug) << "," << csv_field(v.run_dir);
    for (const auto& value : v.values) csv << "," << csv_field(value);
    csv << "," << (v.error.empty() ? "ok" : "failed");
    for (const char* k : {"val_top1", "val_top5", "val_loss", "wall_s", "train_images_per_s",
                          "train_loss", "epochs"}) {
      const auto it = v.summary.find(k);
      csv << "," << (it == v.summary.end() ? std::string() : fmt::format("{:.6g}", it->second));
    }
    csv << "\n";
  }
  if (!csv) throw Error(fmt::format("{}: cannot write the ablation table", csv_path.string()));
  std::cout << "table: " << csv_path.string() << "\n";

  std::vector<std::string> dirs;
  for (const auto& v : grid)
    if (fs::exists(fs::path(v.run_dir) / "metrics.csv")) dirs.push_back(v.run_dir);
  if (!dirs.empty()) plot_runs(dirs, (base / "comparison.png").string());
}

// One RunOptions per variant, each config validated now: a bad value fails before any training.
std::vector<RunOptions> plan_runs(const AblateOptions& opt, std::vector<Variant>& grid,
                                  const fs::path& base) {
  std::vector<RunOptions> runs;
  for (auto& v : grid) {
    RunOptions r;
    r.config_path = opt.config_path;
    r.overrides = opt.sets;
    r.overrides.insert(r.overrides.end(), v.overrides.begin(), v.overrides.end());
    r.overrides.push_back("run.runs_dir=" + toml_string(base.string()));
    r.overrides.push_back("run.name=" + toml_string(v.slug));
    r.quiet = opt.quiet;
    r.overwrite = opt.overwrite;
    r.threads = opt.threads;
    v.run_dir = (base / v.slug).string();
    try {
      validate_config(load_config(r.config_path, r.overrides));
    } catch (const Error& e) {
      throw Error(fmt::format("ablate variant {} ({}): {}", v.slug, fmt::join(v.assignments, " "),
                              e.what()),
                  e.exit_code());
    }
    runs.push_back(std::move(r));
  }
  return runs;
}

void list_variants(const AblateOptions& opt, const std::vector<Variant>& grid,
                   const fs::path& base) {
  std::cout << fmt::format("ablation of {}: {} variant{} in {}/\n", opt.config_path, grid.size(),
                           grid.size() == 1 ? "" : "s", base.string());
  std::size_t w = 0;
  for (const auto& v : grid) w = std::max(w, v.slug.size());
  for (const auto& v : grid)
    std::cout << fmt::format("  {:<{}}  {}\n", v.slug, w, fmt::join(v.assignments, " "));
  std::cout << std::flush;
}

// An earlier ablation of this name is not replaced silently: what this grid would write over (its
// variants' runs, the table and the chart) needs --overwrite.
void check_overwrite(const std::vector<Variant>& grid, const fs::path& base, bool overwrite) {
  std::vector<std::string> found;
  for (const auto& v : grid)
    if (folder_holds_run(v.run_dir)) found.push_back(v.slug + "/");
  for (const char* f : {"ablation.csv", "comparison.png"})
    if (fs::exists(base / f)) found.push_back(f);
  if (!overwrite && !found.empty())
    throw ConfigError(fmt::format(
        "{} already holds an ablation ({}); pass --overwrite to replace this grid's variants and "
        "the table (other files there are kept), or choose another run.name",
        base.string(), fmt::join(found, ", ")));
}

// Runs every variant in turn; returns how many failed.
std::size_t run_variants(std::vector<Variant>& grid, const std::vector<RunOptions>& runs) {
  std::size_t failed = 0;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    auto& v = grid[i];
    std::cout << fmt::format("\n[{}/{}] {}: {}\n", i + 1, grid.size(), v.slug,
                             fmt::join(v.assignments, " "))
              << std::flush;
    try {
      const RunSummary s = execute_run(runs[i]);
      std::cout << fmt::format("[{}/{}] {} finished in {:.1f} s\n", i + 1, grid.size(), v.slug,
                               s.wall_s)
                << std::flush;
      v.summary = read_summary(fs::path(v.run_dir) / "summary.json");
    } catch (const Error& e) {
      // One variant failing (out of memory, a bad value the schema cannot see) must not lose the
      // others.
      v.error = e.what();
      ++failed;
      std::cerr << fmt::format("flowtrain: error: variant {}: {}\n", v.slug, e.what());
    }
  }
  return failed;
}

void run_ablation(const AblateOptions& opt) {
  const std::vector<Vary> varies = parse_varies(opt.vary);
  std::vector<Variant> grid = make_grid(varies);

  const Config base_cfg = load_config(opt.config_path, opt.sets);
  check_run_paths(base_cfg, ResolvedGraph{});  // the ablation folder's name
  const auto run = base_cfg.root["run"];
  const fs::path base = fs::path(run["runs_dir"].value_or<std::string>("runs")) /
                        run["name"].value_or<std::string>("run");
  const std::vector<RunOptions> runs = plan_runs(opt, grid, base);
  list_variants(opt, grid, base);
  if (opt.dry_run) return;

  // One ablation at a time in a folder.
  std::error_code ec;
  fs::create_directories(base, ec);
  if (ec)
    throw Error(
        fmt::format("{}: cannot create the ablation folder: {}", base.string(), ec.message()));
  const FolderLock lock(base);
  check_overwrite(grid, base, opt.overwrite);
  const std::size_t failed = run_variants(grid, runs);
  report(grid, varies, base);
  if (failed)
    throw Error(fmt::format("{} of {} ablation variants failed (see above)", failed, grid.size()));
}

}  // namespace

void add_ablate(CLI::App& app) {
  auto opt = std::make_shared<AblateOptions>();
  auto* cmd = app.add_subcommand("ablate",
                                 "run a grid of overrides, one run folder each, and compare them");
  cmd->add_option("config", opt->config_path, "TOML config")->required();
  cmd->add_option("--vary", opt->vary,
                  "KEY=V1,V2,...: one axis of the grid (repeatable; commas inside [] {} \"\" "
                  "do not split; V&KEY2=W also sets KEY2 in that variant)")
      ->required()
      ->allow_extra_args(false);
  cmd->add_option("--set", opt->sets, "override a key in every variant: KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--dry-run", opt->dry_run, "validate every variant and list them, run nothing");
  cmd->add_flag("--quiet", opt->quiet, "no progress output from the runs");
  cmd->add_flag("--overwrite", opt->overwrite,
                "replace the variants' runs and the table of an earlier ablation of this name");
  cmd->add_option("--threads", opt->threads, "override [run] threads");
  cmd->callback([opt] { run_ablation(*opt); });
}

}  // namespace ft

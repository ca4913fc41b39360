// `flowtrain report` (see report.hpp). Each column comes from one file: model, schedule and
// augmentations from config.toml (the resolved config), best val and test top-1 from metrics.csv's
// epoch rows (a resumed run's repeated rows count once), epochs, wall time and images/s from
// summary.json. A value a run folder lacks is shown as "-".
#include "cli/report.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/ablate.hpp"
#include "cli/plots.hpp"
#include "pipeline/error.hpp"

namespace ft {

namespace fs = std::filesystem;

namespace {

// A TOML value in one short line: 0.1, "x" -> x, [1, 2], { op = ... } -> k=v lists.
std::string short_value(const toml::node& n) {
  if (const auto s = n.value_exact<std::string>()) return *s;
  if (const auto d = n.value_exact<double>()) return fmt::format("{}", *d);  // shortest: 0.1
  if (const auto* a = n.as_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < a->size(); ++i) out += (i ? ", " : "") + short_value(*a->get(i));
    return out + "]";
  }
  std::ostringstream o;
  n.visit([&](auto&& x) { o << x; });
  return o.str();
}

// kind(k=v, ...) of a table, skipping `skip` keys; `absent` when there is no table.
std::string call_text(const toml::table* t, const std::string& kind_key,
                      const std::vector<std::string>& skip, const std::string& absent = "-") {
  if (!t) return absent;
  std::string args;
  for (auto&& [k, v] : *t) {
    const std::string key(k.str());
    if (key == kind_key || std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
    args += fmt::format("{}{}={}", args.empty() ? "" : ", ", key, short_value(v));
  }
  const std::string kind = (*t)[kind_key].value_or<std::string>("?");
  return args.empty() ? kind : fmt::format("{}({})", kind, args);
}

// The ops of every augment stage that sees the train split (no `splits` key: every split).
std::string train_augmentations(const toml::table& cfg) {
  std::vector<std::string> ops;
  if (const auto* stages = cfg["stage"].as_array())
    for (const auto& s : *stages) {
      const auto* t = s.as_table();
      if (!t || (*t)["kind"].value_or<std::string>("") != "augment") continue;
      if (const auto* splits = (*t)["splits"].as_array()) {
        bool train = false;
        for (const auto& x : *splits) train |= x.value_or<std::string>("") == "train";
        if (!train) continue;
      }
      if (const auto* list = (*t)["ops"].as_array())
        for (const auto& op : *list)
          if (op.as_table() && (*op.as_table())["op"].value_or<std::string>("") != "normalize")
            ops.push_back(call_text(op.as_table(), "op", {}));
    }
  if (ops.empty()) return cfg.empty() ? "-" : "none";  // no config.toml: unknown
  return fmt::format("{}", fmt::join(ops, ", "));
}

struct EpochRows {
  std::map<int, double> val_top1, test_top1;  // by epoch (the last row of each wins)
};

EpochRows read_epoch_rows(const fs::path& csv) {
  EpochRows r;
  std::ifstream in(csv);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("epoch,")) continue;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string x; std::getline(ss, x, ',');) f.push_back(x);
    if (f.size() < 10) continue;  // a line cut short by a kill
    try {
      const int epoch = std::stoi(f[2]);
      const double top1 = std::stod(f[6]);
      if (f[1] == "val") r.val_top1[epoch] = top1;
      if (f[1] == "test") r.test_top1[epoch] = top1;
    } catch (const std::exception&) {
    }
  }
  return r;
}

// Whether the config's test split carries labels (a csv with labels, or an imagefolder).
bool test_labelled(const toml::table& cfg) {
  const auto test = cfg["data"]["test"];
  return test["labels"].is_string() || test["format"].value_or<std::string>("") == "imagefolder";
}

std::string cell(std::string s) {
  for (std::size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.replace(i, 1, "\\|");
  return s;
}

std::string report_row(const std::string& dir) {
  const fs::path d(dir);
  std::error_code ec;
  if (!fs::is_regular_file(d / "metrics.csv", ec) && !fs::is_regular_file(d / "summary.json", ec))
    throw Error(fmt::format("report: {} holds no run (no metrics.csv or summary.json)", dir), 2);
  toml::table cfg;
  try {
    if (fs::is_regular_file(d / "config.toml", ec))
      cfg = toml::parse_file((d / "config.toml").string());
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("report: {}/config.toml: {}", dir, e.description()), 2);
  }
  const auto summary = read_summary(d / "summary.json");
  const auto num = [&](const char* k, const char* f) {
    const auto it = summary.find(k);
    return it == summary.end() ? std::string("-") : fmt::format(fmt::runtime(f), it->second);
  };
  const EpochRows rows = read_epoch_rows(d / "metrics.csv");
  std::string best = "-";
  if (!rows.val_top1.empty()) {
    auto it = std::max_element(rows.val_top1.begin(), rows.val_top1.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
    best = fmt::format("{:.2f}% (epoch {})", 100 * it->second, it->first);
  }
  const std::string test = !rows.test_top1.empty() && test_labelled(cfg)
                               ? fmt::format("{:.2f}%", 100 * rows.test_top1.rbegin()->second)
                               : "-";
  std::string schedule =
      call_text(cfg["schedule"].as_table(), "kind", {}, cfg.empty() ? "-" : "constant");
  if (const auto lr = cfg["optimizer"]["lr"].value<double>())
    schedule = fmt::format("lr {} {}", *lr, schedule);
  const std::string model =
      call_text(cfg["model"].as_table(), "kind", {"num_classes", "init_from"}) +
      (cfg["model"]["init_from"].is_string()
           ? " from " + *cfg["model"]["init_from"].value<std::string>()
           : "");
  return fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", cell(dir), cell(model),
                     cell(schedule), cell(train_augmentations(cfg)), num("epochs", "{:.0f}"), best,
                     test, num("wall_s", "{:.1f} s"), num("train_images_per_s", "{:.0f}"));
}

void write_text_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = fs::path(path.string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.close();
    if (!out) {
      fs::remove(tmp);
      throw Error(fmt::format("report: cannot write {}", path.string()));
    }
  }
  fs::rename(tmp, path);
}

}  // namespace

std::string report_table(const std::vector<std::string>& run_dirs) {
  std::string out =
      "| run | model | schedule | train augmentations | epochs | best val top-1 | test top-1 | "
      "wall time | images/s |\n|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& d : run_dirs) out += report_row(d);
  return out;
}

void add_report(CLI::App& app) {
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto chart = std::make_shared<std::string>("report.png");
  auto* cmd = app.add_subcommand(
      "report", "compare run folders: a Markdown table and a chart of their curves");
  cmd->add_option("run_dirs", *dirs, "run folders")->required();
  cmd->add_option("--out", *out, "also write the table to this Markdown file");
  cmd->add_option("--chart", *chart,
                  "chart of every run's curves (default report.png; \"\": none)");
  cmd->callback([=] {
    const std::string table = report_table(*dirs);
    std::cout << table;
    if (!out->empty()) write_text_atomically(*out, table);
    if (!chart->empty()) plot_runs(*dirs, *chart);  // prints where it drew, or why not
  });
}

}  // namespace ft

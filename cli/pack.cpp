// `flowtrain pack CONFIG --split train --out DIR [--shard-size 256MB]`: loads the split as a run
// would ([data], [model] num_classes, [run] seed for a holdout) and writes it with pack_shards,
// with a progress bar on a terminal.
#include "cli/pack.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>

#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "stages/source/shard_pack.hpp"

namespace ft {

namespace {

struct PackArgs {
  std::string config, split = "train", out, shard_size = "256MB";
  std::vector<std::string> overrides;
  bool quiet = false;
};

Dataset load_pack_split(const PackArgs& a) {
  const Config cfg = load_config(a.config, a.overrides);
  const toml::table* data = cfg.root["data"].as_table();
  if (!data) throw ConfigError(a.config + ": pack needs a [data] table");
  const auto nc = cfg.root["model"]["num_classes"].value<std::int64_t>();
  const auto seed = cfg.root["run"]["seed"].value<std::int64_t>();
  DataSplits d = load_data_splits(*data, a.config, nc ? static_cast<int>(*nc) : 0,
                                  seed ? static_cast<std::uint64_t>(*seed) : 0);
  std::optional<Dataset>& s = a.split == "train" ? d.train : a.split == "val" ? d.val : d.test;
  if (!s) throw ConfigError(a.config + ": [data] has no " + a.split + " split to pack");
  return std::move(*s);
}

// "[#########...........]  45%  27000/60000 samples  81.2 MB" redrawn at most 10 times a second.
auto progress_bar(bool quiet) {
  const bool tty = !quiet && isatty(STDERR_FILENO) == 1;
  auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  return [tty, last](std::size_t done, std::size_t total, std::uint64_t bytes) mutable {
    const auto now = std::chrono::steady_clock::now();
    if (!tty || (done < total && now - last < std::chrono::milliseconds(100))) return;
    last = now;
    const int width = 30, filled = static_cast<int>(width * done / total);
    fmt::print(stderr, "\r\033[K[{}{}] {:3d}%  {}/{} samples  {:.1f} MB{}",
               std::string(filled, '#'), std::string(width - filled, '.'),
               static_cast<int>(100 * done / total), done, total, bytes / 1e6,
               done == total ? "\n" : "");
  };
}

}  // namespace

void add_pack(CLI::App& app) {
  auto a = std::make_shared<PackArgs>();
  auto* cmd = app.add_subcommand(
      "pack", "write a config's split as WebDataset tar shards (+ DALI .idx, manifest.toml)");
  cmd->add_option("config", a->config, "TOML config whose [data] names the split")->required();
  cmd->add_option("--split", a->split, "train, val or test (default train)")
      ->check(CLI::IsMember({"train", "val", "test"}));
  cmd->add_option("--out", a->out, "output folder (must not exist)")->required();
  cmd->add_option("--shard-size", a->shard_size, "bytes per shard at most (default 256MB)");
  cmd->add_option("--set", a->overrides, "override a config key: KEY=VALUE (repeatable)");
  cmd->add_flag("--quiet", a->quiet, "no progress bar");
  cmd->callback([a] {
    PackOptions opt;
    opt.shard_bytes = parse_byte_size(a->shard_size);
    const Dataset data = load_pack_split(*a);
    opt.progress = progress_bar(a->quiet);
    const PackSummary s = pack_shards(data, a->out, opt);
    fmt::print(
        "packed {} samples into {} shard{} in {}: {:.1f} MB ({:.1f}% over the {:.1f} MB of JPEG "
        "bytes), {:.1f} s\n",
        s.samples, s.shards, s.shards == 1 ? "" : "s", a->out, s.tar_bytes / 1e6,
        100.0 * (static_cast<double>(s.tar_bytes) / static_cast<double>(s.sample_bytes) - 1.0),
        s.sample_bytes / 1e6, s.seconds);
  });
}

}  // namespace ft

// Subcommands run, profile, stages, import (others live in their own files).
#include "cli/commands.hpp"

#include <fmt/format.h>

#include <iostream>

#include "cli/ablate.hpp"
#include "cli/chain.hpp"
#include "cli/export.hpp"
#include "cli/pack.hpp"
#include "cli/plots.hpp"
#include "cli/preview.hpp"
#include "cli/report.hpp"
#include "cli/run.hpp"
#include "cli/stage_docs.hpp"
#include "cli/synth.hpp"
#include "pipeline/error.hpp"
#include "stages/source/import_fashion_mnist.hpp"

namespace ft {

namespace {

// The lines a user reads at the end of a run: accuracy per split, time, throughput, where to look.
std::string summary_text(const RunSummary& s) {
  std::string out = fmt::format("run finished in {:.1f} s on {}; run folder: {}\n", s.wall_s,
                                s.device, s.run_dir);
  if (!s.results) return out;
  if (const auto* t = s.results->last(Split::train)) {
    double seconds = 0;
    std::size_t images = 0;
    for (const auto& p : s.results->passes)
      if (p.split == Split::train) seconds += p.seconds, images += p.samples;
    out += fmt::format(
        "  train: {} epochs, {:.1f} s, {:.0f} images/s; last epoch loss {:.4f} top-1 {:.2f}%\n",
        t->epoch, seconds, seconds > 0 ? images / seconds : 0.0, t->loss, 100 * t->top1);
  }
  for (Split split : {Split::val, Split::test}) {
    const auto* p = s.results->last(split);
    if (!p) continue;
    if (p->labelled)
      out += fmt::format(
          "  {}: {} images, loss {:.4f}, top-1 {:.2f}%, top-5 {:.2f}% ({:.0f} images/s)\n",
          split_name(split), p->samples, p->loss, 100 * p->top1, 100 * p->top5, p->images_per_s);
    else
      out += fmt::format("  {}: {} unlabeled images predicted\n", split_name(split), p->samples);
  }
  return out;
}

// `flowtrain run a.toml b.toml ...`: the plan of every link first (validation, what each link's
// folder holds), then the links in order.
void run_chain_command(const RunOptions& opt, const std::vector<std::string>& configs) {
  const std::vector<ChainLink> plan = plan_chain(opt, configs);
  if (opt.dry_run) {
    std::cout << fmt::format("chain of {} configs is valid:\n", plan.size());
    for (std::size_t i = 0; i < plan.size(); ++i)
      std::cout << "  " << describe_link(plan[i], i, plan.size()) << "\n";
    return;
  }
  run_chain(opt, plan, [&](const ChainLink&, const RunSummary& s) {
    if (s.nothing_to_do) return;
    draw_curves(s.run_dir);
    std::cout << summary_text(s);
  });
}

void add_run(CLI::App& app) {
  auto opt = std::make_shared<RunOptions>();
  auto configs = std::make_shared<std::vector<std::string>>();
  auto* cmd = app.add_subcommand("run", "train / evaluate / predict as the config says");
  cmd->add_option("config", *configs,
                  "TOML config; several make a chain: each starts from the previous one's last "
                  "weights (init_from), and rerunning the chain continues it")
      ->required();
  cmd->add_option("--set", opt->overrides, "override a key: KEY=VALUE (repeatable)");
  cmd->add_flag("--dry-run", opt->dry_run, "validate and print the resolved graph, run nothing");
  cmd->add_option("--resume", opt->resume, "continue the run from this checkpoint");
  cmd->add_flag("--overwrite", opt->overwrite,
                "replace the run already in the run folder (flowtrain's files only)");
  cmd->add_flag("--accept-changes", opt->accept_changes,
                "--resume although the config differs from the checkpoint's (listed)");
  cmd->add_flag("--quiet", opt->quiet, "no progress output");
  cmd->callback([opt, configs] {
    if (configs->size() > 1) return run_chain_command(*opt, *configs);
    opt->config_path = configs->front();
    RunSummary s = execute_run(*opt);
    if (opt->dry_run || s.nothing_to_do || !s.writer) return;
    draw_curves(s.run_dir);
    std::cout << summary_text(s);
  });
}

void add_profile(CLI::App& app) {
  auto opt = std::make_shared<RunOptions>();
  auto batches = std::make_shared<std::size_t>(50);
  auto trace = std::make_shared<std::string>();
  auto* cmd =
      app.add_subcommand("profile", "run N training batches and report per-stage throughput");
  cmd->add_option("config", opt->config_path, "TOML config")->required();
  cmd->add_option("--set", opt->overrides, "override a key: KEY=VALUE (repeatable)");
  cmd->add_option("--batches", *batches, "batches to run (default 50)")->check(CLI::PositiveNumber);
  cmd->add_option("--trace", *trace,
                  "Chrome/Perfetto trace path (default <run folder>/profile.json)");
  cmd->add_option("--threads", opt->threads, "override [run] threads");
  cmd->callback([opt, batches, trace] {
    opt->quiet = true;
    std::cout << profile_run(*opt, *batches, *trace);
  });
}

void add_stages(CLI::App& app) {
  auto markdown = std::make_shared<bool>(false);
  auto* cmd =
      app.add_subcommand("stages", "list every stage kind and config table with its parameters");
  cmd->add_flag("--markdown", *markdown, "print the config reference as Markdown");
  cmd->callback(
      [markdown] { std::cout << (*markdown ? stage_docs_markdown() : stage_docs_text()); });
}

void add_import(CLI::App& app) {
  auto out = std::make_shared<std::string>();
  auto src = std::make_shared<std::string>("/usr/share/datasets/fashion-mnist");
  auto limit = std::make_shared<std::size_t>(0);
  auto* cmd =
      app.add_subcommand("import", "turn a packaged dataset into the JPEG folder + CSV layout");
  cmd->add_option("dataset", "dataset name (fashion-mnist)")
      ->required()
      ->check(CLI::IsMember({"fashion-mnist"}));
  cmd->add_option("--out", *out, "output folder")->required();
  cmd->add_option("--from", *src, "folder with the gzipped IDX files");
  cmd->add_option("--limit", *limit, "import at most N images per split (0 = all)");
  cmd->callback([out, src, limit] {
    const ImportSummary s = import_fashion_mnist(*src, *out, *limit);
    std::cout << fmt::format(
        "fashion-mnist in {}: {} train + {} test images{}\n", *out, s.train, s.test,
        s.skipped ? " (already imported)" : fmt::format(" ({:.1f} s)", s.seconds));
  });
}

}  // namespace

void add_commands(CLI::App& app) {
  add_run(app);
  add_profile(app);
  add_stages(app);
  add_import(app);
  add_ablate(app);
  add_preview(app);
  add_schedule(app);
  add_devices(app);
  add_synth(app);
  add_export(app);
  add_report(app);
  add_pack(app);
  add_verify(app);
}

}  // namespace ft

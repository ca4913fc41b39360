// The chain runner (see chain.hpp): a plan from each link's run folder, then one execute_run per
// link with init_from (and --resume or --overwrite) set as the plan says.
#include "cli/chain.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "kernels/optim/checkpoint.hpp"
#include "pipeline/error.hpp"
#include "stages/train/resume.hpp"

namespace ft {

namespace fs = std::filesystem;

namespace {

fs::path last_checkpoint(const std::string& run_dir) {
  return fs::path(run_dir) / "checkpoints" / "last.ckpt";
}

// The overrides of link i: the shared ones, then init_from the previous link's last weights.
RunOptions link_options(const RunOptions& base, const std::vector<ChainLink>& plan, std::size_t i) {
  RunOptions o = base;
  o.config_path = plan[i].config_path;
  o.resume.clear();
  if (i > 0)
    o.overrides.push_back(
        fmt::format("model.init_from=\"{}\"", last_checkpoint(plan[i - 1].run_dir).string()));
  return o;
}

// What link `link` (config and run folder known) has to do, from its run folder.
void decide(ChainLink& link, const RunOptions& opt, const toml::table& config) {
  if (opt.overwrite) {
    link.action = LinkAction::fresh;
    return;
  }
  const fs::path last = last_checkpoint(link.run_dir);
  std::error_code ec;
  if (!fs::exists(last, ec)) {
    link.action = folder_holds_run(link.run_dir) ? LinkAction::restart : LinkAction::fresh;
    return;
  }
  ResumePlan plan;
  try {
    const optim::Checkpoint ck = optim::load_checkpoint(last);
    plan = check_resume(ck, config, link.config_path, opt.accept_changes);
    // A finished run is only skipped when it is this link's run: check_resume does not compare
    // the config of a finished run.
    if (plan.finished) {
      const auto stored = ck.strings.find("run.config");
      if (stored != ck.strings.end() && !stored->second.empty()) {
        const auto changes = config_changes(toml::parse(stored->second), config, link.config_path);
        for (const auto& c : changes)
          if (c.key != "run.epochs")
            throw ConfigError(fmt::format(
                "it holds a finished run of another config ({}: {} -> {}); pass --overwrite to "
                "rerun the chain from scratch",
                c.key, c.before, c.after));
      }
    }
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", last.string(), e.what()), e.exit_code());
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: {}", last.string(), e.what()), 2);
  }
  link.done_epochs = plan.epoch;
  link.action = plan.finished ? LinkAction::skip : LinkAction::resume;
}

}  // namespace

std::vector<ChainLink> plan_chain(const RunOptions& base, const std::vector<std::string>& configs) {
  if (!base.resume.empty())
    throw ConfigError(
        "--resume names one run's checkpoint; a chain resumes by itself: run the same chain "
        "again");
  std::vector<ChainLink> plan(configs.size());
  std::map<std::string, std::size_t> folders;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    plan[i].config_path = configs[i];
    // The previous link's folder is known: link i's overrides are complete.
    PreparedRun p = prepare_run(link_options(base, plan, i), /*create_run_dir=*/false);
    plan[i].run_dir = p.ctx.run_dir.lexically_normal().string();
    const auto [at, fresh] = folders.emplace(plan[i].run_dir, i);
    if (!fresh)
      throw ConfigError(fmt::format(
          "chain links {} ({}) and {} ({}) share the run folder {}; give them different [run] "
          "names",
          at->second + 1, configs[at->second], i + 1, configs[i], plan[i].run_dir));
    try {
      decide(plan[i], base, p.config.root);
    } catch (const Error& e) {
      throw Error(fmt::format("chain link {} ({}): {}", i + 1, configs[i], e.what()),
                  e.exit_code());
    }
  }
  return plan;
}

std::string describe_link(const ChainLink& link, std::size_t index, std::size_t count) {
  const char* what = link.action == LinkAction::skip      ? "finished, skipped"
                     : link.action == LinkAction::resume  ? "unfinished, resumed from"
                     : link.action == LinkAction::restart ? "no checkpoint yet, run again"
                                                          : "run";
  std::string s = fmt::format("chain link {}/{}: {} -> {}: {}", index + 1, count, link.config_path,
                              link.run_dir, what);
  if (link.action == LinkAction::resume)
    s +=
        fmt::format(" {} after epoch {}", last_checkpoint(link.run_dir).string(), link.done_epochs);
  if (link.action == LinkAction::skip) s += fmt::format(" ({} epochs)", link.done_epochs);
  return s;
}

void run_chain(const RunOptions& base, const std::vector<ChainLink>& plan,
               const std::function<void(const ChainLink&, const RunSummary&)>& on_done) {
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const ChainLink& link = plan[i];
    fmt::print("{}\n", describe_link(link, i, plan.size()));  // one line, even with --quiet
    if (link.action == LinkAction::skip) continue;
    RunOptions o = link_options(base, plan, i);
    if (link.action == LinkAction::resume) o.resume = last_checkpoint(link.run_dir).string();
    o.overwrite = base.overwrite || link.action == LinkAction::restart;
    RunSummary s;
    try {
      s = execute_run(o);
    } catch (const Error& e) {
      throw Error(fmt::format("chain link {} ({}): {}; run the same chain again to continue it",
                              i + 1, link.config_path, e.what()),
                  e.exit_code());
    }
    on_done(link, s);
  }
}

}  // namespace ft

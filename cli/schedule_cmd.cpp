// `flowtrain schedule CONFIG [--steps]`: the learning rate and momentum at every epoch (or step)
// of the run the config describes. The train split is loaded to know the batches per epoch.
#include <fmt/format.h>

#include <iostream>

#include "cli/commands.hpp"
#include "cli/run.hpp"
#include "pipeline/error.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

void add_schedule(CLI::App& app) {
  auto opt = std::make_shared<RunOptions>();
  auto steps = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("schedule",
                                 "print the learning rate and momentum of every epoch (or step)");
  cmd->add_option("config", opt->config_path, "TOML config")->required();
  cmd->add_option("--set", opt->overrides, "override a key: KEY=VALUE (repeatable)");
  cmd->add_flag("--steps", *steps, "one row per optimizer step instead of per epoch");
  cmd->callback([opt, steps] {
    PreparedRun p = prepare_run(*opt, /*create_run_dir=*/false);
    p.ctx.config = &p.config.root;
    // Only the source is needed (it knows the batches per epoch); nothing else is set up.
    auto source = p.graph.chain[0].kind->make(p.graph.chain[0].params);
    source->setup(p.ctx);
    const std::size_t per_epoch =
        source->begin_source_pass(PassInfo{Split::train, 1, p.ctx.seed, 0, 0});
    if (per_epoch == 0)
      throw ConfigError(fmt::format("{}: the config has no train split", opt->config_path));
    auto state = TrainState::get(p.ctx);
    state->prepare_schedule(static_cast<std::int64_t>(per_epoch));
    std::cout << fmt::format("# {} epochs x {} steps; {}\n", p.ctx.epochs, per_epoch,
                             state->describe_schedule());
    std::cout << "epoch,step,lr,momentum\n";
    for (const auto& r : state->schedule_rows(*steps))
      std::cout << fmt::format("{},{},{:.10g},{}\n", r.epoch + 1, r.step, r.lr,
                               r.momentum ? fmt::format("{:.6g}", *r.momentum) : std::string(""));
  });
}

}  // namespace ft

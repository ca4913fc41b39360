// `flowtrain run a.toml b.toml c.toml`: a chain of runs, as the seed's author trained ResNeXt50 in
// 68-epoch chunks. Link i+1 starts from link i's last weights: its [model] init_from is set to
// <link i's run folder>/checkpoints/last.ckpt (a new optimizer and schedule, as the chunks did).
// Every link is validated before the first one runs; two links may not share a run folder.
//
// Rerunning the same chain continues it: a link whose run folder holds a finished run (last.ckpt
// has trained the epochs its config asks for, and its stored config matches) is skipped; one
// whose folder holds an unfinished run is resumed from last.ckpt (the --resume rules: a changed
// config is refused); one whose folder holds a run killed before its first checkpoint is run
// again (--overwrite of flowtrain's files there); the others run fresh. --overwrite reruns every
// link from scratch.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cli/run.hpp"

namespace ft {

enum class LinkAction { skip, resume, restart, fresh };

struct ChainLink {
  std::string config_path;
  std::string run_dir;
  LinkAction action = LinkAction::fresh;
  std::int64_t done_epochs = 0;  // what last.ckpt holds (skip, resume)
};

// Validates every link and decides what each will do (nothing is written). `base` carries the
// --set overrides and flags shared by every link; base.config_path and base.resume are unused.
std::vector<ChainLink> plan_chain(const RunOptions& base, const std::vector<std::string>& configs);

// Runs the plan's links in order; `on_done` is called after each link that ran.
void run_chain(const RunOptions& base, const std::vector<ChainLink>& plan,
               const std::function<void(const ChainLink&, const RunSummary&)>& on_done);

std::string describe_link(const ChainLink& link, std::size_t index, std::size_t count);

}  // namespace ft

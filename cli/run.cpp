// Running a config end to end (see run.hpp).
#include "cli/run.hpp"

#include <fmt/format.h>
#include <omp.h>
#include <tbb/global_control.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/device.hpp"
#include "cli/processes.hpp"
#include "kernels/nn/cuda/device.hpp"
#include "kernels/optim/checkpoint.hpp"
#include "pipeline/error.hpp"
#include "pipeline/stop.hpp"
#include "stages/memory_estimate.hpp"
#include "stages/stage_shared.hpp"
#include "stages/train/resume.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

namespace fs = std::filesystem;

namespace {

// File names the graph's stages write into the run folder besides the fixed ones.
std::vector<std::string> stage_outputs(const ResolvedGraph& graph) {
  std::vector<std::string> out;
  for (const auto& s : graph.chain)
    if (s.kind->name == "predict") out.push_back(s.params.get_string("file"));
  return out;
}

// Loads the --resume checkpoint and checks it against the config before anything is written.
void prepare_resume(PreparedRun& p, const RunOptions& opt) {
  auto source = std::make_shared<ResumeSource>();
  try {
    source->checkpoint = optim::load_checkpoint(opt.resume);
  } catch (const std::runtime_error& e) {
    throw Error(fmt::format("--resume {}: {}", opt.resume, e.what()));
  }
  ResumePlan plan;
  try {
    plan = check_resume(source->checkpoint, p.config.root, opt.config_path, opt.accept_changes);
  } catch (const Error& e) {
    throw Error(fmt::format("--resume {}: {}", opt.resume, e.what()), e.exit_code());
  }
  p.resume_epoch = plan.epoch;
  p.resume_finished = plan.finished;
  if (!plan.accepted.empty() && !opt.quiet) {
    std::cerr << fmt::format(
        "flowtrain: resuming {} after {} with {} changed key{} "
        "(--accept-changes):\n",
        opt.resume,
        plan.epoch_batches > 0
            ? fmt::format("batch {} of epoch {}", plan.epoch_batches, plan.epoch + 1)
            : fmt::format("epoch {}", plan.epoch),
        plan.accepted.size(), plan.accepted.size() == 1 ? "" : "s");
    for (const auto& c : plan.accepted)
      std::cerr << fmt::format("  {}: {} -> {}{}\n", c.key, c.before, c.after,
                               c.why.empty() ? "" : " (" + c.why + ")");
  }
  stage_shared(p.ctx).resume = std::move(source);
}

// A data-parallel run's gradient all-reduce: time per step and how much of it the backward pass
// hid. Empty for a single process.
std::string communication_text(const RunContext& ctx) {
  const int world = run_world(ctx);
  if (world == 1) return {};
  const CommStats& c = find_stage_shared(ctx)->comm_stats;
  return fmt::format(
      "communication ({} processes): gradient all-reduce {:.1f} ms per step, {:.0f}% of it "
      "overlapped with the backward pass ({:.1f} ms exposed); {:.1f} MB per step in {} "
      "bucket{} (the stage figures above are rank 0's share of each batch)\n",
      world, 1e3 * c.per_step_s(), 100 * c.overlapped_share(),
      c.steps ? 1e3 * c.exposed_s / static_cast<double>(c.steps) : 0.0,
      static_cast<double>(c.bytes_per_step) / (1024 * 1024), c.buckets, c.buckets == 1 ? "" : "s");
}

// The command that continues a stopped run: the same config and overrides, --resume last.ckpt.
std::string continue_command(const RunOptions& opt, const std::string& ckpt) {
  const auto arg = [](const std::string& s) {
    if (!s.empty() && s.find_first_of(" \t'\"\\$`!*?;&|<>()[]{}#~") == std::string::npos) return s;
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  };
  std::string cmd = "flowtrain run " + arg(opt.config_path);
  for (const auto& o : opt.overrides) cmd += " --set " + arg(o);
  return cmd + " --resume " + arg(ckpt);
}

// A train pass stopped early (signal or time limit): saves the position inside the epoch into
// last.ckpt and throws RunStopped saying how to continue.
[[noreturn]] void stop_run(PreparedRun& p, const RunOptions& opt, const StopPoint& at) {
  const std::string why = stop_reason_text(local_stop_reason());
  auto state = stage_shared(p.ctx).train;
  if (!state || !state->has_model())
    throw RunStopped(fmt::format(
        "stopped by {} before the first training step; nothing was trained or saved. Run the "
        "config again (with --overwrite) to start",
        why));
  const std::string ckpt = state->checkpoint_dir() + "/last.ckpt";
  state->save(ckpt, {}, static_cast<std::int64_t>(at.batch));
  throw RunStopped(fmt::format(
      "stopped by {} after {} batch{} of epoch {} (step {}); saved {}\ncontinue the run "
      "exactly where it stopped with:\n  {}",
      why, at.batch, at.batch == 1 ? "" : "es", at.epoch, state->step, ckpt,
      continue_command(opt, ckpt)));
}

}  // namespace

ResolvedGraph validate_config(const Config& config) {
  ResolvedGraph graph = resolve_graph(config, builtin_registry());
  check_run_paths(config, graph);
  return graph;
}

PreparedRun prepare_run(const RunOptions& opt, bool create_run_dir) {
  PreparedRun p;
  p.config = load_config(opt.config_path, opt.overrides);
  p.graph = validate_config(p.config);

  const toml::table& root = p.config.root;
  const auto run = [&](const char* key) { return root["run"][key]; };
  auto& ctx = p.ctx;
  ctx.config_file = opt.config_path;
  ctx.seed = static_cast<std::uint64_t>(run("seed").value_or<std::int64_t>(0));
  ctx.epochs = static_cast<int>(run("epochs").value_or<std::int64_t>(1));
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ctx.threads =
      opt.threads ? *opt.threads : static_cast<int>(run("threads").value_or<std::int64_t>(0));
  if (ctx.threads <= 0) ctx.threads = hw;
  p.omp_threads = static_cast<int>(run("omp_threads").value_or<std::int64_t>(0));
  if (p.omp_threads <= 0) p.omp_threads = ctx.threads;
  ctx.omp_threads = p.omp_threads;
  p.in_flight = static_cast<int>(run("in_flight").value_or<std::int64_t>(0));
  p.time_limit_s = parse_time_limit(run("time_limit").value_or<std::string>("")).value_or(0);
  ctx.device = resolve_device(run("device").value_or<std::string>("auto"), opt.config_path);
  if (ctx.device == "cuda") nn::cuda::set_allow_tf32(run("tf32").value_or(false));
  ctx.resume_path = opt.resume;
  ctx.quiet = opt.quiet;

  const fs::path runs_dir = run("runs_dir").value_or<std::string>("runs");
  ctx.run_dir = runs_dir / run("name").value_or<std::string>("run");
  join_processes(ctx, p.config.root, create_run_dir && !opt.dry_run, p.scratch);
  if (!create_run_dir) return p;

  // A dry run checks the checkpoint too; it only reads.
  if (!opt.resume.empty()) prepare_resume(p, opt);
  if (opt.dry_run || p.resume_finished) return p;  // the folder is not touched
  if (!writes_outputs(ctx)) return p;              // rank > 0: a scratch folder
  const FolderUse use = opt.overwrite         ? FolderUse::overwrite
                        : !opt.resume.empty() ? FolderUse::resume
                                              : FolderUse::fresh;
  if (use == FolderUse::overwrite && !opt.resume.empty() && path_inside(opt.resume, ctx.run_dir))
    throw ConfigError(
        fmt::format("--overwrite would delete the checkpoint --resume {} names (it "
                    "is in the run folder {}); drop --overwrite to continue that run",
                    opt.resume, ctx.run_dir.string()));
  p.folder = RunFolder(ctx.run_dir, use, opt.resume, stage_outputs(p.graph));
  if (!p.folder.kept().empty() && !opt.quiet)
    std::cerr << fmt::format("flowtrain: --overwrite kept what flowtrain did not write in {}: {}\n",
                             ctx.run_dir.string(), fmt::join(p.folder.kept(), ", "));
  return p;
}

RunSummary execute_run(const RunOptions& opt) {
  PreparedRun p = prepare_run(opt);
  const bool writer = writes_outputs(p.ctx);  // a data-parallel run's rank 0 speaks for it
  if (opt.dry_run) {
    if (!writer) return {};
    std::cout << fmt::format("config {} is valid; resolved graph:\n{}", opt.config_path,
                             describe_graph(p.graph));
    if (p.resume_finished)
      std::cout << fmt::format("note: {} completed all {} epochs; resuming would do nothing\n",
                               opt.resume, p.resume_epoch);
    else if (opt.resume.empty() && !opt.overwrite && folder_holds_run(p.ctx.run_dir))
      std::cout << fmt::format(
          "note: {} already holds a run; running needs --resume or --overwrite\n",
          p.ctx.run_dir.string());
    return {};
  }
  const StopGuard stop(p.time_limit_s);  // signals stop the run cleanly from here on
  RunSummary s;
  s.run_dir = p.ctx.run_dir.string();
  if (p.resume_finished) {
    if (writer)
      std::cout << fmt::format(
          "nothing to do: {} completed {} epoch{} and the config asks for {}; {} is unchanged "
          "(raise run.epochs to train further)\n",
          opt.resume, p.resume_epoch, p.resume_epoch == 1 ? "" : "s", p.ctx.epochs, s.run_dir);
    s.nothing_to_do = true;
    return s;
  }
  p.ctx.config = &p.config.root;
  omp_set_num_threads(p.omp_threads);
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<std::size_t>(p.ctx.threads));
  const auto t0 = std::chrono::steady_clock::now();
  Pipeline pipeline(p.graph, p.ctx, p.in_flight);
  pipeline.setup();
  check_run_memory(p.graph, p.ctx, pipeline.max_in_flight());  // refuses what cannot fit
  // The new run has started: an overwritten run's files go, and its config replaces the old one.
  p.folder.commit();
  write_config_file(p.ctx.run_dir / "config.toml", p.config.root,
                    "# resolved config of this run (overrides applied)\n");
  if (const auto stopped = run_all_passes(pipeline, p.ctx)) stop_run(p, opt, *stopped);
  s.device = p.ctx.device;
  s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.profile = pipeline.profiler().report();
  s.results = stage_shared(p.ctx).results;
  // The whole run's stage profile, including the idle gap at each pass boundary.
  std::ofstream(p.ctx.run_dir / "profile.txt") << s.profile.text();
  s.samples = s.profile.samples;
  s.writer = writes_outputs(p.ctx);
  return s;
}

std::string profile_run(const RunOptions& opt, std::size_t batches, const std::string& trace_path) {
  PreparedRun p = prepare_run(opt, /*create_run_dir=*/false);
  const fs::path run_dir = p.ctx.run_dir;
  const ScratchDir scratch("profile");
  p.ctx.run_dir = scratch.path;
  p.ctx.config = &p.config.root;
  omp_set_num_threads(p.omp_threads);
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<std::size_t>(p.ctx.threads));
  Pipeline pipeline(p.graph, p.ctx, p.in_flight);
  pipeline.setup();
  pipeline.run_pass(Split::train, 1, batches);
  std::string trace = trace_path;
  if (trace.empty()) {
    std::error_code ec;
    fs::create_directories(run_dir, ec);
    if (ec)
      throw Error(
          fmt::format("{}: cannot create the run folder: {}", run_dir.string(), ec.message()));
    trace = (run_dir / "profile.json").string();
  }
  if (!writes_outputs(p.ctx)) return {};  // rank 0 reports for the run
  pipeline.profiler().write_trace(trace);
  return fmt::format("profile of {} ({} threads, {} batches in flight):\n{}{}trace: {}\n",
                     opt.config_path, p.ctx.threads, pipeline.max_in_flight(),
                     pipeline.profiler().report().text(), communication_text(p.ctx), trace);
}

}  // namespace ft

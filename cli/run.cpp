// Running a config end to end (see run.hpp).
#include "cli/run.hpp"

#include <fmt/format.h>
#include <omp.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/device.hpp"
#include "kernels/nn/cuda/device.hpp"
#include "pipeline/error.hpp"
#include "stages/memory_estimate.hpp"

namespace ft {

namespace fs = std::filesystem;

PreparedRun prepare_run(const RunOptions& opt, bool create_run_dir) {
  PreparedRun p;
  p.config = load_config(opt.config_path, opt.overrides);
  p.graph = resolve_graph(p.config, builtin_registry());

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
  ctx.device = resolve_device(run("device").value_or<std::string>("auto"), opt.config_path);
  if (ctx.device == "cuda") nn::cuda::set_allow_tf32(run("tf32").value_or(false));
  ctx.resume_path = opt.resume;
  ctx.quiet = opt.quiet;

  const fs::path runs_dir = run("runs_dir").value_or<std::string>("runs");
  ctx.run_dir = runs_dir / run("name").value_or<std::string>("run");
  if (create_run_dir && !opt.dry_run) {
    std::error_code ec;
    fs::create_directories(ctx.run_dir, ec);
    if (ec)
      throw Error(
          fmt::format("{}: cannot create the run folder: {}", ctx.run_dir.string(), ec.message()));
    const fs::path cfg_out = ctx.run_dir / "config.toml";
    const fs::path tmp = ctx.run_dir / "config.toml.tmp";
    {
      std::ofstream out(tmp);
      out << "# resolved config of this run (overrides applied)\n" << to_toml_text(root) << "\n";
      if (!out) throw Error(fmt::format("{}: cannot write the resolved config", tmp.string()));
    }
    fs::rename(tmp, cfg_out);
  }
  return p;
}

RunSummary execute_run(const RunOptions& opt) {
  PreparedRun p = prepare_run(opt);
  if (opt.dry_run) {
    std::cout << fmt::format("config {} is valid; resolved graph:\n{}", opt.config_path,
                             describe_graph(p.graph));
    return {};
  }
  p.ctx.config = &p.config.root;
  omp_set_num_threads(p.omp_threads);
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<std::size_t>(p.ctx.threads));
  const auto t0 = std::chrono::steady_clock::now();
  Pipeline pipeline(p.graph, p.ctx, p.in_flight);
  pipeline.setup();
  check_run_memory(p.graph, p.ctx, pipeline.max_in_flight());  // refuses what cannot fit
  run_all_passes(pipeline, p.ctx);
  RunSummary s;
  s.run_dir = p.ctx.run_dir.string();
  s.device = p.ctx.device;
  s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  s.profile = pipeline.profiler().report();
  s.results = p.ctx.shared<RunResults>("run_results");
  // The whole run's stage profile, including the idle gap at each pass boundary.
  std::ofstream(p.ctx.run_dir / "profile.txt") << s.profile.text();
  s.samples = s.profile.samples;
  return s;
}

std::string profile_run(const RunOptions& opt, std::size_t batches, const std::string& trace_path) {
  PreparedRun p = prepare_run(opt);
  p.ctx.config = &p.config.root;
  omp_set_num_threads(p.omp_threads);
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<std::size_t>(p.ctx.threads));
  Pipeline pipeline(p.graph, p.ctx, p.in_flight);
  pipeline.setup();
  pipeline.run_pass(Split::train, 1, batches);
  const std::string trace =
      trace_path.empty() ? (p.ctx.run_dir / "profile.json").string() : trace_path;
  pipeline.profiler().write_trace(trace);
  return fmt::format("profile of {} ({} threads, {} batches in flight):\n{}trace: {}\n",
                     opt.config_path, p.ctx.threads, pipeline.max_in_flight(),
                     pipeline.profiler().report().text(), trace);
}

}  // namespace ft

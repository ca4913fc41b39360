// Joining the run's processes (see processes.hpp).
#include "cli/processes.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "kernels/dist/comm.hpp"
#include "kernels/nn/cuda/device.hpp"
#include "pipeline/error.hpp"
#include "stages/stage_shared.hpp"
#include "stages/train/grad_sync.hpp"

namespace ft {

namespace fs = std::filesystem;

namespace {

std::mutex g_mutex;
// The process's communicator, for fail_all_processes: held until exit, since the run that made it
// may be unwinding (its context destroyed) when the failure is reported.
std::shared_ptr<dist::Comm> g_comm;

struct Scratch {
  fs::path path;
  explicit Scratch(int rank)
      : path(fs::temp_directory_path() /
             fmt::format("flowtrain-rank{}-{}", rank, static_cast<long>(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

void join_processes(RunContext& ctx, const toml::table& config, bool create_run_dir,
                    std::shared_ptr<void>& holder) {
  StageShared& shared = stage_shared(ctx);
  if (!shared.comm) {
    dist::World world;
    try {
      world = dist::detect_world();
      shared.comm = dist::make_cpu_comm(world, read_distributed(&config).timeout_s);
    } catch (const std::exception& e) {
      throw ConfigError(fmt::format("data-parallel launch: {}", e.what()));
    }
    const std::lock_guard lock(g_mutex);
    g_comm = shared.comm;
    if (world.size > 1 && ctx.device == "cuda") nn::cuda::select_device(world.local_rank);
  }
  const int rank = shared.comm->rank();
  if (rank == 0) return;
  ctx.quiet = true;
  if (create_run_dir) {
    auto scratch = std::make_shared<Scratch>(rank);
    ctx.run_dir = scratch->path;
    holder = scratch;
  }
}

bool writes_outputs(const RunContext& ctx) { return run_rank(ctx) == 0; }

void fail_all_processes(int code, const std::string& what) {
  std::shared_ptr<dist::Comm> comm;
  {
    const std::lock_guard lock(g_mutex);
    comm = g_comm;
  }
  if (comm && comm->size() > 1) comm->fail(code, what);
}

}  // namespace ft

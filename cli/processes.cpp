// Joining the run's processes (see processes.hpp).
#include "cli/processes.hpp"

#include <fmt/format.h>

#include <mutex>

#include "cli/run_folder.hpp"
#include "kernels/dist/comm.hpp"
#include "kernels/nn/cuda/device.hpp"
#include "pipeline/error.hpp"
#include "stages/stage_shared.hpp"
#include "stages/train/grad_sync.hpp"

namespace ft {

namespace {

std::mutex g_mutex;
// The process's communicator, for fail_all_processes: held until exit, since the run that made it
// may be unwinding (its context destroyed) when the failure is reported.
std::shared_ptr<dist::Comm> g_comm;

// The run's communicator: MPI (or none) on the CPU; on GPUs NCCL, bootstrapped over MPI under
// mpirun/srun or over TCP from MASTER_ADDR under torchrun. Sums of host data (metrics) and
// gathers go through it too, so one communicator orders every collective of the run.
std::shared_ptr<dist::Comm> make_run_comm(const dist::World& world, const std::string& device,
                                          double timeout_s) {
  if (world.size == 1 || device != "cuda") return dist::make_cpu_comm(world, timeout_s);
  nn::cuda::select_device(world.local_rank);
  static std::shared_ptr<dist::Comm> bootstrap;  // must outlive the NCCL communicator
  bootstrap = world.launcher == dist::Launcher::torchrun ? dist::make_single_comm(timeout_s)
                                                         : dist::make_cpu_comm(world, timeout_s);
  return dist::make_nccl_comm(world, *bootstrap, nn::cuda::stream_handle(), timeout_s);
}

}  // namespace

void join_processes(RunContext& ctx, const toml::table& config, bool create_run_dir,
                    std::shared_ptr<void>& holder) {
  StageShared& shared = stage_shared(ctx);
  if (!shared.comm) {
    try {
      shared.comm =
          make_run_comm(dist::detect_world(), ctx.device, read_distributed(&config).timeout_s);
    } catch (const std::exception& e) {
      throw ConfigError(fmt::format("data-parallel launch: {}", e.what()));
    }
    const std::lock_guard lock(g_mutex);
    g_comm = shared.comm;
  }
  if (shared.comm->size() > 1)
    // Every process stops at the same step (pipeline/stop.hpp): the stop flag, max-reduced.
    ctx.agree_stop = [comm = shared.comm](bool local) {
      double flag = local ? 1.0 : 0.0;
      comm->allreduce_max(&flag, 1);
      return flag > 0;
    };
  const int rank = shared.comm->rank();
  if (rank == 0) return;
  ctx.quiet = true;
  if (create_run_dir) {
    auto scratch = std::make_shared<ScratchDir>(fmt::format("rank{}", rank));
    ctx.run_dir = scratch->path;
    holder = scratch;
  }
}

bool writes_outputs(const RunContext& ctx) { return run_rank(ctx) == 0; }

bool speaks_for_run() {
  const std::lock_guard lock(g_mutex);
  return !g_comm || g_comm->rank() == 0;
}

void fail_all_processes(int code, const std::string& what) {
  std::shared_ptr<dist::Comm> comm;
  {
    const std::lock_guard lock(g_mutex);
    comm = g_comm;
  }
  if (comm && comm->size() > 1) comm->fail(code, what);
}

}  // namespace ft

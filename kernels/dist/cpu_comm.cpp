// The single-process communicator (every collective a no-op) and the CPU communicator factory:
// single for one process, MPI under mpirun/srun, and a refusal for torchrun-style launches (there
// is no CPU collective library without MPI).
#include <cstdio>
#include <cstdlib>

#include "kernels/dist/mpi_runtime.hpp"

namespace ft::dist {

namespace {

class NoOpRequest final : public Request {
 public:
  bool test() override { return true; }
  void wait() override {}
};

class SingleComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char* backend() const override { return "single"; }
  std::unique_ptr<Request> allreduce_sum_async(float*, std::size_t) override {
    return std::make_unique<NoOpRequest>();
  }
  void allreduce_sum(double*, std::size_t) override {}
  void allreduce_max(double*, std::size_t) override {}
  std::vector<std::string> allgather(const std::string& bytes) override { return {bytes}; }
  void broadcast(void*, std::size_t, int root) override {
    if (root != 0) throw DistError("broadcast: root " + std::to_string(root) + " is not rank 0");
  }
  void barrier() override {}
  [[noreturn]] void fail(int code, const std::string& reason) override {
    std::fprintf(stderr, "flowtrain: error: rank 0: %s\n", reason.c_str());
    std::fflush(stderr);
    std::exit(code);
  }
};

}  // namespace

std::unique_ptr<Comm> make_single_comm(double timeout_s) {
  auto comm = std::make_unique<SingleComm>();
  comm->timeout_s = timeout_s;
  return comm;
}

std::unique_ptr<Comm> make_cpu_comm(const World& world, double timeout_s) {
  if (world.size == 1) return make_single_comm(timeout_s);
  if (world.launcher == Launcher::mpi || world.launcher == Launcher::slurm)
    return mpi::make_mpi_comm(world, timeout_s);
  throw DistError(std::string("a ") + launcher_name(world.launcher) + " launch of " +
                  std::to_string(world.size) +
                  " processes on the CPU needs MPI for its collectives: start it with "
                  "`mpirun -np " +
                  std::to_string(world.size) + " flowtrain ...` (or srun) instead");
}

}  // namespace ft::dist

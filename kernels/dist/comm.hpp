// Processes of one data-parallel run and the collectives between them. The launcher (mpirun,
// srun, torchrun) says who we are; the collectives come from the libraries clusters already run:
// MPI on the CPU, NCCL on GPUs (its unique id exchanged over MPI, or over TCP from MASTER_ADDR).
// With no launcher a single process runs, and every collective is a no-op.
//
// Failure never hangs: every wait has a deadline (Comm::timeout_s) and a timed-out collective
// throws DistError naming the ranks that did not arrive; a process that fails calls fail(), which
// takes the whole job down with its rank and reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace ft::dist {

// Where rank, size and local rank came from.
enum class Launcher { none, mpi, slurm, torchrun };
const char* launcher_name(Launcher l);

struct World {
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  Launcher launcher = Launcher::none;
  std::string master_addr;  // torchrun: MASTER_ADDR / MASTER_PORT (the TCP rendezvous)
  int master_port = 0;
};

// Reads the launcher's variables from `env` (pure: tests pass their own map). Precedence: Open
// MPI (OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK/LOCAL_SIZE), then a Slurm job step started by srun
// (PMIX_RANK or SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID; an sbatch script's own
// SLURM_PROCID/SLURM_NTASKS are not a launch: a plain command there runs alone), then torchrun
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT). Inconsistent values
// (rank >= size, size < 1, a non-number) throw std::invalid_argument naming the variable.
World detect_world(const std::map<std::string, std::string>& env);
// The same from the process environment.
World detect_world();

class DistError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An in-flight collective. wait() blocks until it completes or the deadline passes (DistError).
// test() makes progress and says whether it is done (MPI progresses nonblocking collectives only
// inside MPI calls: call it between layers of the backward pass to overlap). A request must not
// outlive its Comm; one dropped unfinished is completed (within the deadline) by its destructor.
class Request {
 public:
  virtual ~Request() = default;
  virtual bool test() = 0;
  virtual void wait() = 0;
};

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "single", "mpi", "nccl"

  // Sum over processes, in place. Bit-reproducible: the same inputs give the same sum on every
  // rank and every run (MPI: a fixed reduction order is requested where the library allows it; for
  // two processes IEEE addition is commutative so any order agrees).
  virtual std::unique_ptr<Request> allreduce_sum_async(float* data, std::size_t n) = 0;
  void allreduce_sum(float* data, std::size_t n) { allreduce_sum_async(data, n)->wait(); }
  virtual void allreduce_sum(double* data, std::size_t n) = 0;
  virtual void allreduce_max(double* data, std::size_t n) = 0;
  // Every rank's `bytes` (any length per rank) gathered on every rank, in rank order.
  virtual std::vector<std::string> allgather(const std::string& bytes) = 0;
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Reports `reason` as "rank R: reason" on stderr and ends every process of the job with `code`
  // (MPI_Abort under MPI). Never returns.
  [[noreturn]] virtual void fail(int code, const std::string& reason) = 0;

  double timeout_s = 300;  // deadline of every wait; 0 = none
  // After a timeout a communicator refuses further collectives (DistError): end the job with
  // fail(). Use from one thread at a time (any thread: MPI runs at MPI_THREAD_SERIALIZED).
};

// The communicator for `world`: "single" when world.size == 1; MPI when launched by mpirun/srun
// (initialises MPI once, finalised at exit); a torchrun-style launch on the CPU is refused with a
// message saying to use mpirun (there is no CPU collective library without MPI).
std::unique_ptr<Comm> make_cpu_comm(const World& world, double timeout_s);
// The single-process communicator make_cpu_comm returns for world.size == 1 (every collective a
// no-op; allgather returns {bytes}; fail() prints "rank 0: reason" and exits with `code`).
std::unique_ptr<Comm> make_single_comm(double timeout_s);

// The NCCL communicator for GPU gradients (device pointers in allreduce_sum_async; stream-ordered
// on `cuda_stream`), its unique id broadcast through `bootstrap` (an MPI comm), or over TCP from
// MASTER_ADDR:MASTER_PORT when `bootstrap` is single-process and world.size > 1. Throws DistError
// in a build without CUDA/NCCL. The caller selects the CUDA device (the local rank's GPU) first;
// `bootstrap` must outlive the result (its fail() ends an MPI job). Host pointers given to the
// double reductions, broadcast and allgather are staged through device memory.
std::unique_ptr<Comm> make_nccl_comm(const World& world, Comm& bootstrap, void* cuda_stream,
                                     double timeout_s);

}  // namespace ft::dist

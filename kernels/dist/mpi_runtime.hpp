// MPI process state shared by every MPI communicator: initialised once (MPI_THREAD_SERIALIZED at
// least: the training stage calls MPI from a TBB worker, one thread at a time), finalised at exit,
// or aborted at exit when a collective was left unfinished (MPI_Finalize would wait on it forever).
#pragma once

#include <mpi.h>

#include <chrono>
#include <string>
#include <thread>

namespace ft::dist::mpi {

// MPI_Init_thread on the first call; throws DistError when MPI cannot give SERIALIZED threading.
void init_once();
// Throws DistError("<what>: <MPI's message>") unless rc is MPI_SUCCESS (the communicators use
// MPI_ERRORS_RETURN so a failing call becomes an exception instead of killing the process).
void check(int rc, const std::string& what);
// A collective was abandoned: at exit, abort the job instead of finalising.
void mark_abandoned();

// Calls done() until it returns true (then true) or `timeout_s` passes (then false; 0 = no
// deadline). Spins briefly, then naps with a growing pause capped at 0.5 ms: latency stays well
// under a millisecond while a long wait does not steal a core from the TBB workers.
template <class Done>
bool poll_until(double timeout_s, Done&& done) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto nap = std::chrono::microseconds(2);
  for (int i = 0;; ++i) {
    if (done()) return true;
    if (timeout_s > 0 && std::chrono::duration<double>(clock::now() - start).count() > timeout_s)
      return false;
    if (i >= 64) {
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds(500));
    }
  }
}

}  // namespace ft::dist::mpi

#include "kernels/dist/comm.hpp"

namespace ft::dist::mpi {
// The communicator over MPI_COMM_WORLD (after init_once); checks MPI agrees with `world`.
std::unique_ptr<Comm> make_mpi_comm(const World& world, double timeout_s);
}  // namespace ft::dist::mpi

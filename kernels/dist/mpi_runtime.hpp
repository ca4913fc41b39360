// MPI process state shared by every MPI communicator: initialised once (MPI_THREAD_SERIALIZED at
// least: the training stage calls MPI from a TBB worker, one thread at a time), finalised at exit,
// or aborted at exit when a collective was left unfinished (MPI_Finalize would wait on it forever).
#pragma once

#include <mpi.h>

#include <string>

#include "kernels/dist/comm.hpp"
#include "kernels/dist/poll.hpp"

namespace ft::dist::mpi {

// MPI_Init_thread on the first call; throws DistError when MPI cannot give SERIALIZED threading.
void init_once();
// Throws DistError("<what>: <MPI's message>") unless rc is MPI_SUCCESS (the communicators use
// MPI_ERRORS_RETURN so a failing call becomes an exception instead of killing the process).
void check(int rc, const std::string& what);
// A collective was abandoned: at exit, abort the job instead of finalising.
void mark_abandoned();

// The communicator over MPI_COMM_WORLD (after init_once); checks MPI agrees with `world`.
std::unique_ptr<Comm> make_mpi_comm(const World& world, double timeout_s);

}  // namespace ft::dist::mpi

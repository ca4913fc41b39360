// MPI_Init_thread once per process and MPI_Finalize at exit (atexit: runs after main returns or
// std::exit, including when main caught an exception). An abandoned collective turns the finalise
// into MPI_Abort, which takes the job down instead of hanging in MPI_Finalize.
#include "kernels/dist/mpi_runtime.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "kernels/dist/comm.hpp"

namespace ft::dist::mpi {

namespace {

std::atomic<bool> abandoned{false};

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (abandoned.load()) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Finalize();
}

const char* level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE:
      return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED:
      return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED:
      return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE:
      return "MPI_THREAD_MULTIPLE";
  }
  return "an unknown level";
}

}  // namespace

void init_once() {
  static std::mutex mutex;
  static int provided = -1;  // the level MPI gave, or -1 before initialisation
  const std::lock_guard lock(mutex);
  if (provided < 0) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) {
      MPI_Query_thread(&provided);
    } else {
      int level = MPI_THREAD_SINGLE;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &level), "MPI_Init_thread");
      std::atexit(finalize_at_exit);
      provided = level;
    }
  }
  if (provided < MPI_THREAD_SERIALIZED)
    throw DistError(std::string("this MPI library gives only ") + level_name(provided) +
                    "; flowtrain calls MPI from a worker thread and needs MPI_THREAD_SERIALIZED "
                    "(use an MPI built with thread support)");
}

void check(int rc, const std::string& what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw DistError(what + " failed: " + std::string(text, len));
}

void mark_abandoned() { abandoned.store(true); }

}  // namespace ft::dist::mpi

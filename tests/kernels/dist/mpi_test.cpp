// MPI communicator end to end: dist_scenarios under `mpirun --oversubscribe -np N`, checking exact
// results, bit-identical sums, overlap, gathers, and that a late, failing or killed rank ends the
// job non-zero within a bounded time with the rank named on stderr. bn_sync_scenarios under
// mpirun checks SyncBatchNorm against batch norm on the whole batch.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "tests/cli/run_binary.hpp"

using ft::testing::env_or_fail;
using ft::testing::quote;
using ft::testing::read_text;

namespace {

struct Job {
  int code = -1;
  std::string out, err;
  double seconds = 0;
};

// Root may run Open MPI only when told; vader's single-copy (CMA) needs ptrace rights that
// containers often lack, and copying through shared memory is all the tests need. Under
// tools/sanitize.sh the job's processes keep ASan and UBSan but not LeakSanitizer: Open MPI leaves
// thousands of allocations at exit from components it has already unloaded, so no suppression by
// library can name them (test_dist keeps leak checks for the rest of kernels/dist).
// `program`: the environment variable naming the binary (dist_scenarios or bn_sync_scenarios).
Job mpirun(int np, const std::string& scenario, const char* program = "FT_DIST_SCENARIOS") {
  const char* asan = std::getenv("ASAN_OPTIONS");
  const std::string asan_options = (asan ? std::string(asan) + ":" : "") + "detect_leaks=0";
  const auto dir = std::filesystem::temp_directory_path() /
                   ("flowtrain-dist-" + scenario + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cmd =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
      "OMPI_MCA_btl_vader_single_copy_mechanism=none ASAN_OPTIONS=" +
      quote(asan_options) + " timeout -k 5 60 " + quote(env_or_fail("MPIRUN")) +
      " --oversubscribe -np " + std::to_string(np) + " " + quote(env_or_fail(program)) + " " +
      scenario + " >" + quote((dir / "out").string()) + " 2>" + quote((dir / "err").string()) +
      " </dev/null";
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  Job job;
  job.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  job.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  job.out = read_text(dir / "out");
  job.err = read_text(dir / "err");
  std::filesystem::remove_all(dir);
  return job;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("collectives give exact, identical results on 2 and 3 processes") {
  for (int np : {2, 3}) {
    CAPTURE(np);
    const Job job = mpirun(np, "collectives");
    INFO("stdout: " << job.out << "\nstderr: " << job.err);
    CHECK(job.code == 0);
    for (int r = 0; r < np; ++r) CHECK(contains(job.out, "rank " + std::to_string(r) + " ok"));
  }
}

TEST_CASE("a rank past the deadline is named by the others' DistError") {
  for (int np : {2, 3}) {
    CAPTURE(np);
    const Job job = mpirun(np, "late_rank");  // the last rank sleeps 4 s; deadline 1 s
    INFO("stdout: " << job.out << "\nstderr: " << job.err);
    const std::string late = "rank " + std::to_string(np - 1);
    CHECK(job.code == 3);  // the DistError's fail(3, ...)
    CHECK(contains(job.err, "timed out after 1 s: " + late +
                                " (last arrived at collective #1) did not arrive"));
    CHECK(contains(job.err, "flowtrain: error: rank 0: collective #2 (allreduce_sum of 1 floats)"));
    CHECK(!contains(job.err, "rank 0 ("));
    CHECK(job.seconds < 15);
  }
}

TEST_CASE("fail() ends every process with its code and names the rank") {
  const Job job = mpirun(3, "fail_rank");  // the others wait in a barrier with a 60 s deadline
  INFO("stdout: " << job.out << "\nstderr: " << job.err);
  CHECK(job.code == 7);
  CHECK(contains(job.err, "flowtrain: error: rank 1: deliberate failure"));
  CHECK(!contains(job.out, " ok"));
  CHECK(job.seconds < 15);
}

TEST_CASE("a rank killed mid-run ends the job non-zero, naming it") {
  const Job job = mpirun(3, "killed_rank");  // the others wait in an allreduce, 60 s deadline
  INFO("stdout: " << job.out << "\nstderr: " << job.err);
  CHECK(job.code != 0);
  CHECK(contains(job.err, "rank 1"));
  CHECK(job.seconds < 15);
}

TEST_CASE("a rank that exits without fail() ends the job at the others' deadline") {
  const Job job = mpirun(3, "early_exit");  // it waits in MPI_Finalize; the others time out
  INFO("stdout: " << job.out << "\nstderr: " << job.err);
  CHECK(job.code != 0);  // 3 from the others' fail(), or whatever the rank killed in MPI_Finalize
                         // gives (Open MPI's PMIx sometimes crashes while being torn down)
  CHECK(contains(job.err, "rank 1 (no collective yet) did not arrive"));
  CHECK(job.seconds < 15);
}

TEST_CASE("sync batch norm on 1, 2 and 3 processes equals batch norm on the whole batch") {
  // bn_sync_scenarios checks forward, running statistics, dx, dgamma, dbeta and eval output in
  // NCHW / nChw8c / nChw16c, with and without the fused ReLU, 2-D and 1-D (see the file).
  for (int np : {1, 2, 3}) {
    CAPTURE(np);
    const Job job = mpirun(np, "all", "FT_BN_SYNC_SCENARIOS");
    INFO(job.err);
    CHECK(job.code == 0);
    for (int r = 0; r < np; ++r) CHECK(contains(job.out, "rank " + std::to_string(r) + " ok"));
  }
}

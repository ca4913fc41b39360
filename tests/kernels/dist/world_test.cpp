// detect_world over the variables each launcher sets: Open MPI, PMIx/Slurm, torchrun, their
// precedence, and bad values (each error names the variable). Also the single-process communicator.
#include <doctest/doctest.h>

#include "kernels/dist/comm.hpp"

using ft::dist::detect_world;
using ft::dist::Launcher;
using Env = std::map<std::string, std::string>;

namespace {

std::string error_of(const Env& env) {
  try {
    detect_world(env);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("no launcher: one process") {
  const auto w = detect_world(Env{{"HOME", "/root"}, {"LOCAL_RANK_X", "3"}});
  CHECK(w.launcher == Launcher::none);
  CHECK(w.rank == 0);
  CHECK(w.size == 1);
  CHECK(w.local_rank == 0);
  CHECK(w.local_size == 1);
}

TEST_CASE("Open MPI variables") {
  const auto w = detect_world(Env{{"OMPI_COMM_WORLD_RANK", "5"},
                                  {"OMPI_COMM_WORLD_SIZE", "8"},
                                  {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                                  {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"}});
  CHECK(w.launcher == Launcher::mpi);
  CHECK(w.rank == 5);
  CHECK(w.size == 8);
  CHECK(w.local_rank == 1);
  CHECK(w.local_size == 4);
  CHECK(std::string(ft::dist::launcher_name(w.launcher)) == "mpi");
}

TEST_CASE("Slurm job step variables (srun), with and without PMIx") {
  // What srun sets in each task of `srun -n 6` (2 nodes) inside an allocation of 8 tasks.
  Env env{{"SLURM_PROCID", "3"},
          {"SLURM_NTASKS", "8"},
          {"SLURM_TASKS_PER_NODE", "4(x2)"},
          {"SLURM_STEP_NUM_TASKS", "6"},
          {"SLURM_STEP_TASKS_PER_NODE", "3(x2)"},
          {"SLURM_STEP_ID", "0"},
          {"SLURM_LOCALID", "0"},
          {"SLURM_NODEID", "1"}};
  auto w = detect_world(env);
  CHECK(w.launcher == Launcher::slurm);
  CHECK(w.rank == 3);
  CHECK(w.size == 6);  // the step's tasks, not the allocation's
  CHECK(w.local_rank == 0);
  CHECK(w.local_size == 3);
  env.erase("SLURM_STEP_TASKS_PER_NODE");   // older srun: the per-node list of the job
  env["SLURM_TASKS_PER_NODE"] = "2(x2),1";  // nodes 0,1: 2 tasks; node 2: 1
  env["SLURM_NODEID"] = "2";
  env["SLURM_STEP_NUM_TASKS"] = "5";
  env["SLURM_PROCID"] = "4";
  env["PMIX_RANK"] = "4";
  w = detect_world(env);
  CHECK(w.rank == 4);
  CHECK(w.size == 5);
  CHECK(w.local_size == 1);
  env["PMIX_RANK"] = "2";
  CHECK(error_of(env).find("PMIX_RANK=2 disagrees with SLURM_PROCID=4") != std::string::npos);
  env["SLURM_TASKS_PER_NODE"] = "2(x";
  env["PMIX_RANK"] = "4";
  CHECK(error_of(env).find("SLURM_TASKS_PER_NODE") != std::string::npos);
  env["SLURM_STEP_NUM_TASKS"] = "4";
  env["SLURM_TASKS_PER_NODE"] = "2(x2),1";
  CHECK(error_of(env).find("PMIX_RANK=4 must be below SLURM_STEP_NUM_TASKS=4") !=
        std::string::npos);
  CHECK(error_of(Env{{"PMIX_RANK", "0"}}).find("SLURM_STEP_NUM_TASKS is not set") !=
        std::string::npos);
}

TEST_CASE("an sbatch script's own variables are no launch: a plain command runs alone") {
  // The batch step of `sbatch --ntasks=4 --nodes=2`: SLURM_PROCID/NTASKS/LOCALID are set, no step.
  const Env batch{{"SLURM_JOB_ID", "1234"},
                  {"SLURM_PROCID", "0"},
                  {"SLURM_NTASKS", "4"},
                  {"SLURM_NPROCS", "4"},
                  {"SLURM_LOCALID", "0"},
                  {"SLURM_NODEID", "0"},
                  {"SLURM_TASKS_PER_NODE", "2(x2)"},
                  {"SLURM_JOB_NUM_NODES", "2"}};
  const auto w = detect_world(batch);
  CHECK(w.launcher == Launcher::none);
  CHECK(w.size == 1);
  CHECK(w.rank == 0);
  // mpirun inside that script: Open MPI's variables decide.
  Env under_mpirun = batch;
  under_mpirun["OMPI_COMM_WORLD_RANK"] = "2";
  under_mpirun["OMPI_COMM_WORLD_SIZE"] = "4";
  CHECK(detect_world(under_mpirun).launcher == Launcher::mpi);
  CHECK(detect_world(under_mpirun).rank == 2);
  // srun -n 2 inside it: the step's 2 tasks.
  Env under_srun = batch;
  under_srun["SLURM_PROCID"] = "1";
  under_srun["SLURM_LOCALID"] = "1";
  under_srun["SLURM_STEP_NUM_TASKS"] = "2";
  under_srun["SLURM_STEP_TASKS_PER_NODE"] = "2";
  CHECK(detect_world(under_srun).launcher == Launcher::slurm);
  CHECK(detect_world(under_srun).size == 2);
  CHECK(detect_world(under_srun).rank == 1);
  CHECK(detect_world(under_srun).local_size == 2);
}

TEST_CASE("torchrun variables") {
  Env env{{"RANK", "2"},
          {"WORLD_SIZE", "4"},
          {"LOCAL_RANK", "0"},
          {"LOCAL_WORLD_SIZE", "2"},
          {"MASTER_ADDR", "node7"},
          {"MASTER_PORT", "29500"}};
  const auto w = detect_world(env);
  CHECK(w.launcher == Launcher::torchrun);
  CHECK(w.rank == 2);
  CHECK(w.size == 4);
  CHECK(w.local_rank == 0);
  CHECK(w.local_size == 2);
  CHECK(w.master_addr == "node7");
  CHECK(w.master_port == 29500);
  // One process needs no rendezvous address.
  CHECK(detect_world(Env{{"RANK", "0"}, {"WORLD_SIZE", "1"}}).size == 1);
  env.erase("MASTER_PORT");
  CHECK(error_of(env).find("MASTER_PORT must be set") != std::string::npos);
  env["MASTER_PORT"] = "70000";
  CHECK(error_of(env).find("MASTER_PORT=70000") != std::string::npos);
  env["MASTER_PORT"] = "29500";
  env.erase("MASTER_ADDR");
  CHECK(error_of(env).find("MASTER_ADDR must be set") != std::string::npos);
}

TEST_CASE("precedence: Open MPI, then Slurm, then torchrun") {
  Env env{{"RANK", "1"},        {"WORLD_SIZE", "2"},   {"MASTER_ADDR", "h"},
          {"MASTER_PORT", "1"}, {"SLURM_PROCID", "2"}, {"SLURM_STEP_NUM_TASKS", "3"}};
  CHECK(detect_world(env).launcher == Launcher::slurm);
  CHECK(detect_world(env).rank == 2);
  env["OMPI_COMM_WORLD_RANK"] = "0";
  env["OMPI_COMM_WORLD_SIZE"] = "1";
  CHECK(detect_world(env).launcher == Launcher::mpi);
  CHECK(detect_world(env).size == 1);
}

TEST_CASE("bad values name the variable") {
  CHECK(error_of({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("RANK='x'") != std::string::npos);
  CHECK(error_of({{"RANK", "1"}, {"WORLD_SIZE", " 2"}}).find("WORLD_SIZE=' 2'") !=
        std::string::npos);
  CHECK(error_of({{"RANK", "-1"}, {"WORLD_SIZE", "2"}}).find("RANK='-1'") != std::string::npos);
  CHECK(error_of({{"RANK", "1"}, {"WORLD_SIZE", ""}}).find("WORLD_SIZE=''") != std::string::npos);
  CHECK(error_of({{"RANK", "1"}, {"WORLD_SIZE", "99999999999"}}).find("WORLD_SIZE=") !=
        std::string::npos);
  CHECK(error_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("RANK=2 must be below WORLD_SIZE=2") !=
        std::string::npos);
  CHECK(error_of({{"RANK", "0"}, {"WORLD_SIZE", "0"}}).find("WORLD_SIZE must be at least 1") !=
        std::string::npos);
  CHECK(error_of({{"WORLD_SIZE", "2"}}).find("RANK is not set") != std::string::npos);
  CHECK(error_of({{"OMPI_COMM_WORLD_RANK", "1"}}).find("OMPI_COMM_WORLD_SIZE is not set") !=
        std::string::npos);
  CHECK(error_of({{"OMPI_COMM_WORLD_RANK", "1"},
                  {"OMPI_COMM_WORLD_SIZE", "4"},
                  {"OMPI_COMM_WORLD_LOCAL_RANK", "2"},
                  {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}})
            .find("OMPI_COMM_WORLD_LOCAL_RANK=2 must be below OMPI_COMM_WORLD_LOCAL_SIZE=2") !=
        std::string::npos);
  CHECK(error_of({{"OMPI_COMM_WORLD_RANK", "1"},
                  {"OMPI_COMM_WORLD_SIZE", "4"},
                  {"OMPI_COMM_WORLD_LOCAL_SIZE", "5"}})
            .find("OMPI_COMM_WORLD_LOCAL_SIZE=5 must be between 1 and") != std::string::npos);
}

TEST_CASE("single-process communicator: collectives are no-ops") {
  auto comm = ft::dist::make_cpu_comm(ft::dist::World{}, 5);
  CHECK(std::string(comm->backend()) == "single");
  CHECK(comm->rank() == 0);
  CHECK(comm->size() == 1);
  CHECK(comm->timeout_s == 5);
  float f[3] = {1.5f, -2, 3};
  auto req = comm->allreduce_sum_async(f, 3);
  CHECK(req->test());
  req->wait();
  CHECK(f[1] == -2);
  double d[2] = {4, 5};
  comm->allreduce_sum(d, 2);
  comm->allreduce_max(d, 2);
  CHECK(d[0] == 4);
  CHECK(comm->allgather("abc") == std::vector<std::string>{"abc"});
  comm->broadcast(d, sizeof d, 0);
  CHECK_THROWS_AS(comm->broadcast(d, sizeof d, 1), ft::dist::DistError);
  comm->barrier();
}

TEST_CASE("torchrun-style launch of several processes on the CPU is refused") {
  ft::dist::World w;
  w.launcher = Launcher::torchrun;
  w.size = 2;
  CHECK_THROWS_WITH_AS(ft::dist::make_cpu_comm(w, 1), doctest::Contains("mpirun -np 2"),
                       ft::dist::DistError);
}

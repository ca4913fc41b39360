// make_nccl_comm: in a build without NCCL it says so; with NCCL but no GPU it fails with DistError
// (never a crash); on a GPU it runs one process: collectives leave device and host data intact.
#include <doctest/doctest.h>

#include "kernels/dist/comm.hpp"

#ifdef FT_HAVE_NCCL
#include <cuda_runtime.h>
#endif

using ft::dist::DistError;
using ft::dist::World;

#ifndef FT_HAVE_NCCL
TEST_CASE("NCCL: a build without CUDA/NCCL says so") {
  auto boot = ft::dist::make_single_comm(5);
  CHECK_THROWS_WITH_AS(ft::dist::make_nccl_comm(World{}, *boot, nullptr, 5),
                       doctest::Contains("without CUDA/NCCL"), DistError);
}
#else
TEST_CASE("NCCL: one process on one GPU") {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
#ifdef FT_DIST_REQUIRE_GPU
    FAIL("test_dist_gpu runs on a GPU machine, but CUDA sees no device");
#endif
    auto boot = ft::dist::make_single_comm(5);
    CHECK_THROWS_AS(ft::dist::make_nccl_comm(World{}, *boot, nullptr, 5), DistError);
    MESSAGE("no GPU: only the failure path of make_nccl_comm was checked");
    return;
  }
  auto boot = ft::dist::make_single_comm(5);
  auto comm = ft::dist::make_nccl_comm(World{}, *boot, nullptr, 5);
  CHECK(std::string(comm->backend()) == "nccl");
  CHECK(comm->size() == 1);
  float host[4] = {1.5f, -2, 3, 0.25f};
  float* dev = nullptr;
  REQUIRE(cudaMalloc(&dev, sizeof host) == cudaSuccess);
  REQUIRE(cudaMemcpy(dev, host, sizeof host, cudaMemcpyHostToDevice) == cudaSuccess);
  auto req = comm->allreduce_sum_async(dev, 4);
  req->wait();
  CHECK(req->test());
  float back[4] = {};
  REQUIRE(cudaMemcpy(back, dev, sizeof back, cudaMemcpyDeviceToHost) == cudaSuccess);
  for (int i = 0; i < 4; ++i) CHECK(back[i] == host[i]);
  cudaFree(dev);
  double d[2] = {4, -5};  // host memory: staged through the device
  comm->allreduce_sum(d, 2);
  comm->allreduce_max(d, 2);
  CHECK(d[0] == 4);
  CHECK(d[1] == -5);
  comm->broadcast(d, sizeof d, 0);
  CHECK(d[1] == -5);
  CHECK(comm->allgather("abc") == std::vector<std::string>{"abc"});
  CHECK(comm->allgather("") == std::vector<std::string>{""});
  comm->barrier();
}
#endif

// The CUDA path without a GPU: the batch plan (cuda_plan.cpp: steps, fusions, offsets) and the
// kernels cuda_kernels.cuh makes from each op's functor (ops/<name>.hpp) and its launch_step
// dispatch, compiled as host code under a small emulation of CUDA's built-ins
// and launched thread by thread, must equal the CPU chain exactly for every op, the fused steps
// and the seed's chain. This catches planning and indexing bugs in CI; test_augment_gpu checks the
// real device (scheduling, memory, the CUDA toolchain's float arithmetic) where one exists.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

// clang-format off: the emulation must come before the kernel headers
#include "tests/cuda_emulation.hpp"
// clang-format on
#include "kernels/augment/cuda_kernels.cuh"
#include "kernels/augment/ops.hpp"
#include "tests/kernels/augment/host_batch.hpp"

using namespace ft::aug;

namespace {

// CudaAugment::run with host vectors in place of device buffers.
void run_emulated(const std::vector<AugmentOp>& ops, const CudaBatch& b) {
  const std::size_t n = b.n;
  const std::size_t in_total = b.in_offsets[n - 1] + b.in_dims[n - 1].numel();
  const std::size_t out_total = b.out_offsets[n - 1] + b.out_dims[n - 1].numel();
  cuda::Plan plan;
  cuda::plan_batch(ops, b, plan);
  std::vector<std::uint8_t> in(b.in, b.in + in_total), ping[2], lut(n * 768);
  ping[0].resize(plan.ping_elems[0] + 1);
  ping[1].resize(plan.ping_elems[1] + 1);
  std::vector<float> f32(b.out_type == OutType::f32 ? out_total : 1);
  std::vector<std::uint16_t> bf16(b.out_type == OutType::bf16 ? out_total : 1);
  const auto u8_buf = [&](int id) { return id == 0 ? in.data() : ping[id - 1].data(); };
  // Kernels that synchronise inside a block (the table pass) run with one thread per block.
  const auto emulated = [](void (*kernel)(cuda::Step), unsigned gx, unsigned gy, bool syncs,
                           const cuda::Step& arg) {
    emulate_launch(gx, gy, syncs ? 1 : cuda::kThreads, [&] { kernel(arg); });
  };
  for (const cuda::StepPlan& sp : plan.steps) {
    cuda::Step s = sp.step;
    s.tasks = plan.tasks.data() + sp.first_task;
    s.in = sp.src == 3 ? nullptr : u8_buf(sp.src);
    s.out_u8 = sp.dst == 3 ? nullptr : u8_buf(sp.dst);
    s.out_f32 = f32.data();
    s.out_bf16 = bf16.data();
    s.lut = lut.data();
    s.ids = b.sample_ids;
    cuda::launch_step(emulated, sp, s, static_cast<unsigned>(n));
  }
  if (plan.final_buffer == 3 && b.out_type == OutType::bf16)
    std::copy(bf16.begin(), bf16.begin() + out_total, static_cast<std::uint16_t*>(b.out));
  else if (plan.final_buffer == 3)
    std::copy(f32.begin(), f32.begin() + out_total, static_cast<float*>(b.out));
  else
    std::copy(u8_buf(plan.final_buffer), u8_buf(plan.final_buffer) + out_total,
              static_cast<std::uint8_t*>(b.out));
}

using testing::HostBatch;
using testing::normalize_op;

HostBatch make_batch(std::size_t n, bool rgb_only, int base = 0) {
  return testing::make_batch(testing::BatchShape{11, 6, 5, 23, 19, 500, 7}, n, rgb_only, base);
}

void check_equal(const std::string& name, const std::vector<AugmentOp>& ops, const HostBatch& b,
                 std::uint32_t epoch = 1) {
  const testing::ChainOutput cpu = testing::run_cpu_chain(ops, b, 9, epoch);
  testing::ChainOutput emu(ops, b);
  run_emulated(ops, emu.cuda_batch(b, 9, epoch));
  CHECK_MESSAGE(cpu == emu, name);
}

}  // namespace

TEST_CASE("emulated CUDA kernels equal the CPU chain for every op") {
  const HostBatch mixed = make_batch(40, false), rgb = make_batch(24, true);
  for (const auto& c : testing::every_op_cases(8))  // 8 x 40 draws cover all 14 TA ops
    check_equal(c.name, c.ops, c.rgb_only ? rgb : mixed, c.epoch);
}

TEST_CASE("emulated fused steps and the seed chain equal the CPU chain") {
  const HostBatch rgb = make_batch(24, true), big = make_batch(6, true, 40);
  for (const auto& c : testing::fused_cases()) check_equal(c.name, c.ops, rgb);
  const std::vector<AugmentOp> chain = testing::seed_chain(64, 56);
  for (std::uint32_t epoch = 1; epoch <= 3; ++epoch)
    check_equal("seed chain epoch " + std::to_string(epoch), chain, big, epoch);
  const std::vector<AugmentOp> chain_bf16 = testing::seed_chain(64, 56, true);
  check_equal("seed chain bf16", chain_bf16, big, 2);
}

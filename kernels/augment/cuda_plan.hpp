// Host-side planning of a batch for the CUDA kernels: per-sample tasks (dims, drawn parameters,
// buffer offsets) for each step, with exact fusions (crop/resize + following hflip mirrors the
// writes; + following normalize writes f32 CHW directly). Plain C++ with no CUDA headers, so the
// plan, and the kernels run under a host emulation, are tested on machines without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/augment/cuda.hpp"
#include "kernels/augment/ops/functor.hpp"  // Task, Step
#include "kernels/augment/types.hpp"

namespace ft::aug::cuda {

// How the plan treats an op's step (fusions, buffers): each op names its family in its OpDef.
using Kernel = KernelFamily;

// Buffers a step reads and writes: 0 the uploaded input, 1 / 2 u8 ping-pong, 3 the float output.
struct StepPlan {
  Kernel kernel = Kernel::crop;
  Step step;  // pointers are filled at launch
  int src = 0, dst = 0;
  std::size_t first_task = 0;
  long max_work = 0;  // largest per-sample thread count (pixels, or erased elements)
};

struct Plan {
  std::vector<Task> tasks;  // steps.size() x n, step-major
  std::vector<StepPlan> steps;
  std::size_t ping_elems[2] = {0, 0};
  int final_buffer = 0;  // where the output ends up
};

// Plans `ops` over the batch (its input offsets, dims, ids, seed, epoch and output offsets).
// Throws std::invalid_argument for an invalid chain, std::runtime_error for what the kernels
// cannot do (a shrink beyond resize's kMaxTaps).
void plan_batch(const std::vector<AugmentOp>& ops, const CudaBatch& b, Plan& plan);

}  // namespace ft::aug::cuda

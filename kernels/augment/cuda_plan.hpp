// Host-side planning of a batch for the CUDA kernels: per-sample tasks (dims, drawn parameters,
// buffer offsets) for each step, with exact fusions (crop/resize + following hflip mirrors the
// writes; + following normalize writes f32 CHW directly). Plain C++ with no CUDA headers, so the
// plan, and the kernels run under a host emulation, are tested on machines without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/augment/cuda.hpp"
#include "kernels/augment/pixel.hpp"
#include "kernels/augment/types.hpp"

namespace ft::aug::cuda {

inline constexpr int kMaxTaps = 33;  // resize: shrink factors up to 16 per axis

// One sample's work in one step.
struct Task {
  OpDraw d;
  Dims in, out;
  std::size_t in_off = 0, out_off = 0;  // element offsets in the step's source / destination
  float rt[6] = {0, 0, 0, 0, 0, 0};     // affine matrix rescaled for the source size
  BlendCoef k{1.0f, 0.0f};              // trivial_augment_wide colour blend coefficients
  bool flip = false;                    // a following hflip fused into this step
};

// What every sample of a step shares (a kernel argument).
struct Step {
  AugmentOp op;
  bool normalize = false;  // a following normalize fused in: write f32 (or bf16) CHW
  bool bf16 = false;       // the float output is bf16 (normalize and erasing steps)
  float mean[kMaxChannels] = {0, 0, 0, 0}, stdev[kMaxChannels] = {1, 1, 1, 1};
  int n_stats = 1;
  const std::uint8_t* in = nullptr;
  std::uint8_t* out_u8 = nullptr;
  float* out_f32 = nullptr;           // the float output, when !bf16
  std::uint16_t* out_bf16 = nullptr;  // ... when bf16
  const Task* tasks = nullptr;
  std::uint8_t* lut = nullptr;  // trivial_augment_wide: 3 x 256 per sample
};

using Kernel = KernelFamily;  // each op names its family in its OpDef

// Buffers a step reads and writes: 0 the uploaded input, 1 / 2 u8 ping-pong, 3 the float output.
struct StepPlan {
  Kernel kernel = Kernel::crop;
  Step step;  // pointers are filled at launch
  int src = 0, dst = 0;
  std::size_t first_task = 0;
  long max_work = 0;  // largest per-sample thread count (pixels, or erased elements)
  std::uint32_t op_index = 0;
};

struct Plan {
  std::vector<Task> tasks;  // steps.size() x n, step-major
  std::vector<StepPlan> steps;
  std::size_t ping_elems[2] = {0, 0};
  int final_buffer = 0;  // where the output ends up
};

// Plans `ops` over the batch (its input offsets, dims, ids, seed, epoch and output offsets).
// Throws std::invalid_argument for an invalid chain, std::runtime_error for what the kernels
// cannot do (a shrink beyond kMaxTaps).
void plan_batch(const std::vector<AugmentOp>& ops, const CudaBatch& b, Plan& plan);

}  // namespace ft::aug::cuda

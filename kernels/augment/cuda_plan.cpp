// Planning of a CUDA batch (see cuda_plan.hpp). Parameters come from draw_op, the CPU path's
// function, so both paths take the same random decisions.
#include "kernels/augment/cuda_plan.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/augment/ops.hpp"
#include "kernels/augment/ops/functors.hpp"
#include "kernels/augment/ops/op_def.hpp"

namespace ft::aug::cuda {

namespace {

// The chain's output type (its normalize op's), which the batch must be laid out for.
OutType chain_out_type(const std::vector<AugmentOp>& ops, const CudaBatch& b) {
  bool normalized = false, bf16 = false;
  for (const AugmentOp& op : ops)
    if (op.kind == OpKind::normalize) normalized = true, bf16 = op.bf16;
  const OutType type = bf16 ? OutType::bf16 : normalized ? OutType::f32 : OutType::u8;
  if (b.out_type != type)
    throw std::invalid_argument("CUDA augment: the batch's output type differs from the chain's");
  return type;
}

// Step k's plan, less its tasks and buffers, with the ops it fuses: a following hflip (crop and
// resize steps mirror their writes), then a following normalize (written as f32 / bf16 CHW).
// `after`: the index of the first op the step does not cover, but for a fused normalize.
StepPlan plan_step(const std::vector<AugmentOp>& ops, std::size_t k, const CudaBatch& b, bool bf16,
                   bool& fuse_flip, std::size_t& after) {
  const AugmentOp& op = ops[k];
  StepPlan sp;
  sp.kernel = op_def(op.kind).kernel;
  sp.step.op = op;
  sp.step.seed = b.seed;
  sp.step.epoch = b.epoch;
  sp.step.op_index = static_cast<std::uint32_t>(k);
  const bool geometric = sp.kernel == Kernel::crop || sp.kernel == Kernel::resize;
  fuse_flip = geometric && op.kind != OpKind::hflip && k + 1 < ops.size() &&
              ops[k + 1].kind == OpKind::hflip;
  after = k + 1 + (fuse_flip ? 1 : 0);
  const bool in_f32 = sp.kernel == Kernel::erase;
  sp.step.normalize = op.kind == OpKind::normalize ||
                      (!in_f32 && after < ops.size() && ops[after].kind == OpKind::normalize);
  if (sp.step.normalize) {
    const AugmentOp& norm = op.kind == OpKind::normalize ? op : ops[after];
    std::copy(norm.mean, norm.mean + kMaxChannels, sp.step.mean);
    std::copy(norm.std, norm.std + kMaxChannels, sp.step.stdev);
    sp.step.n_stats = norm.n_stats;
  }
  sp.step.bf16 = bf16 && (sp.step.normalize || in_f32);
  return sp;
}

// Each sample's task in step sp (op k); cur / cur_off: each sample's image before, then after.
// Returns the u8 elements the step writes (its ping-pong buffer's need).
std::size_t plan_tasks(const std::vector<AugmentOp>& ops, std::size_t k, bool fuse_flip,
                       const CudaBatch& b, StepPlan& sp, std::vector<Dims>& cur,
                       std::vector<std::size_t>& cur_off, Plan& plan) {
  const AugmentOp& op = ops[k];
  const bool in_f32 = sp.kernel == Kernel::erase;
  std::size_t out_off = 0;
  for (std::size_t i = 0; i < b.n; ++i) {
    Task t;
    t.in = cur[i];
    t.d = draw_op(op, t.in, b.seed, b.epoch, b.sample_ids[i], static_cast<std::uint32_t>(k));
    t.out = op.kind == OpKind::normalize || in_f32 ? t.in : op_output_dims(op, t.in);
    if (fuse_flip)
      t.flip = draw_op(ops[k + 1], t.out, b.seed, b.epoch, b.sample_ids[i],
                       static_cast<std::uint32_t>(k + 1))
                   .flip;
    plan_task(op, t);  // the op functor's per-sample preparation (ops/<name>.hpp)
    t.in_off = cur_off[i];
    t.out_off = sp.step.normalize || in_f32 ? b.out_offsets[i] : out_off;
    out_off += t.out.numel();
    cur[i] = t.out;
    cur_off[i] = t.out_off;
    sp.max_work = std::max(sp.max_work, in_f32 ? static_cast<long>(t.d.h) * t.d.w * t.out.c
                                               : static_cast<long>(t.out.h) * t.out.w);
    plan.tasks.push_back(t);
  }
  return out_off;
}

}  // namespace

void plan_batch(const std::vector<AugmentOp>& ops, const CudaBatch& b, Plan& plan) {
  validate_ops(ops);
  plan.tasks.clear();
  plan.steps.clear();
  plan.ping_elems[0] = plan.ping_elems[1] = 0;
  std::vector<Dims> cur(b.in_dims, b.in_dims + b.n);
  std::vector<std::size_t> cur_off(b.in_offsets, b.in_offsets + b.n);
  int src = 0, next = 1;
  const bool bf16 = chain_out_type(ops, b) == OutType::bf16;
  for (std::size_t k = 0; k < ops.size();) {
    bool fuse_flip = false;
    std::size_t after = 0;
    StepPlan sp = plan_step(ops, k, b, bf16, fuse_flip, after);
    sp.first_task = plan.tasks.size();
    const std::size_t out_elems = plan_tasks(ops, k, fuse_flip, b, sp, cur, cur_off, plan);
    if (sp.kernel == Kernel::erase || sp.step.normalize) {
      sp.src = sp.kernel == Kernel::erase ? 3 : src;
      sp.dst = 3;
      src = 3;
    } else {
      sp.src = src;
      sp.dst = next;
      plan.ping_elems[next - 1] = std::max(plan.ping_elems[next - 1], out_elems);
      src = next;
      next = next == 1 ? 2 : 1;
    }
    plan.steps.push_back(sp);
    k = ops[k].kind == OpKind::normalize ? k + 1 : (sp.step.normalize ? after + 1 : after);
  }
  plan.final_buffer = src;
}

}  // namespace ft::aug::cuda

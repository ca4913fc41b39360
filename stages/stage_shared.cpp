// The RunContext's typed shared objects (see stage_shared.hpp).
#include "stages/stage_shared.hpp"

#include "kernels/dist/comm.hpp"

namespace ft {

StageShared& stage_shared(RunContext& ctx) {
  if (!ctx.stages) ctx.stages = std::make_shared<StageShared>();
  return *ctx.stages;
}

const StageShared* find_stage_shared(const RunContext& ctx) { return ctx.stages.get(); }

int run_rank(const RunContext& ctx) {
  const StageShared* s = find_stage_shared(ctx);
  return s && s->comm ? s->comm->rank() : 0;
}

int run_world(const RunContext& ctx) {
  const StageShared* s = find_stage_shared(ctx);
  return s && s->comm ? s->comm->size() : 1;
}

}  // namespace ft

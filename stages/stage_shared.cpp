// The RunContext's typed shared objects (see stage_shared.hpp).
#include "stages/stage_shared.hpp"

namespace ft {

StageShared& stage_shared(RunContext& ctx) {
  if (!ctx.stages) ctx.stages = std::make_shared<StageShared>();
  return *ctx.stages;
}

const StageShared* find_stage_shared(const RunContext& ctx) { return ctx.stages.get(); }

}  // namespace ft

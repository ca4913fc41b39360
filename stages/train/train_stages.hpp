// The training family's stage kinds, one per file.
#pragma once

#include "pipeline/stage.hpp"

namespace ft {

StageKind train_step_kind();
StageKind eval_step_kind();
StageKind predict_kind();
StageKind checkpoint_kind();

}  // namespace ft

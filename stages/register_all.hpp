// Every stage kind flowtrain ships is defined at the foot of its own file as `StageKind
// <name>_kind()`; builtin_registry() (register_all.cpp) lists them. Kinds whose family has a
// header declare them there (read_files.hpp, decode_jpeg.hpp, augment_stage.hpp,
// train/train_stages.hpp); the two without one are declared here.
#pragma once

#include "pipeline/registry.hpp"

namespace ft {
StageKind batch_kind();    // stages/batch/collate.cpp
StageKind metrics_kind();  // stages/metrics/metrics.cpp
}  // namespace ft

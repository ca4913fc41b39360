// One registration function per stage family; builtin_registry() calls them all.
#pragma once

#include "pipeline/registry.hpp"

namespace ft {
void register_source_stages(Registry& r);
void register_decode_stages(Registry& r);
void register_augment_stages(Registry& r);
void register_batch_stages(Registry& r);
void register_train_stages(Registry& r);
void register_metrics_stages(Registry& r);
}  // namespace ft

// The built-in registry: every stage family flowtrain ships.
#include "stages/register_all.hpp"

#include "pipeline/runtime.hpp"
#include "stages/source/dataset.hpp"

namespace ft {

const Registry& builtin_registry() {
  static const Registry registry = [] {
    Registry r;
    r.add_section(run_section_schema());
    r.add_section(data_section());
    register_source_stages(r);
    register_decode_stages(r);
    register_augment_stages(r);
    register_batch_stages(r);
    register_train_stages(r);
    register_metrics_stages(r);
    return r;
  }();
  return registry;
}

}  // namespace ft

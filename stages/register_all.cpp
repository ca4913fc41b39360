// The built-in registry: every stage family flowtrain ships.
#include "stages/register_all.hpp"

#include "pipeline/runtime.hpp"

namespace ft {

const Registry& builtin_registry() {
  static const Registry registry = [] {
    Registry r;
    r.add_section(run_section_schema());
    r.add_section({"data", "The splits: train, val (a table, or { from = \"train\", fraction = F }) and test.",
                   {{"train", ParamType::table, "{ format = \"csv\"|\"imagefolder\"|\"folder\", images, labels }", "", true},
                    {"val", ParamType::table, "as train, or { from = \"train\", fraction = 0.1 }", "", true},
                    {"test", ParamType::table, "as train; format = \"folder\" for unlabeled images", "", true}}});
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

// The built-in registry: every config table and stage kind flowtrain ships, in one explicit list.
// Not self-registering static objects: the stages are a static library (ft_stages), and the
// linker leaves out an object file that nothing references, registrar and all, so a stage would
// vanish from every binary that does not happen to use its file otherwise; link_whole would
// avoid that but leaves the order to the link line. A list of functions is checked by the
// compiler, fixed in order, and has no static-initialisation order to get wrong.
#include "stages/register_all.hpp"

#include "pipeline/runtime.hpp"
#include "stages/augment/augment_stage.hpp"
#include "stages/decode/decode_jpeg.hpp"
#include "stages/source/dataset.hpp"
#include "stages/source/read_files.hpp"
#include "stages/source/read_shards.hpp"
#include "stages/train/grad_sync.hpp"
#include "stages/train/model_config.hpp"
#include "stages/train/optim_config.hpp"
#include "stages/train/train_stages.hpp"

namespace ft {

namespace {

constexpr SectionSchema (*kSections[])() = {run_section_schema, data_section,
                                            model_section,      optimizer_section,
                                            schedule_section,   distributed_section};

constexpr StageKind (*kStageKinds[])() = {
    read_files_kind, read_shards_kind, decode_jpeg_kind, augment_kind,    batch_kind,
    train_step_kind, eval_step_kind,   predict_kind,     checkpoint_kind, metrics_kind};

}  // namespace

const Registry& builtin_registry() {
  static const Registry registry = [] {
    Registry r;
    for (const auto section : kSections) r.add_section(section());
    for (const auto kind : kStageKinds) r.add(kind());
    return r;
  }();
  return registry;
}

}  // namespace ft

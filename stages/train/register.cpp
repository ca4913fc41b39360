// Registration of the training family: model/optimizer/schedule tables and the stage kinds.
#include "stages/register_all.hpp"
#include "stages/train/train_stages.hpp"
#include "stages/train/model_config.hpp"
#include "stages/train/optim_config.hpp"

namespace ft {

void register_train_stages(Registry& r) {
  r.add_section(model_section());
  r.add_section(optimizer_section());
  r.add_section(schedule_section());
  r.add(train_step_kind());
  r.add(eval_step_kind());
  r.add(predict_kind());
  r.add(checkpoint_kind());
}

}  // namespace ft

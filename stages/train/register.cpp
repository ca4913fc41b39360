// Registration of the training family: model/optimizer/schedule tables and the stage kinds.
#include "stages/register_all.hpp"
#include "stages/train/train_stages.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

void register_train_stages(Registry& r) {
  register_train_sections(r);
  r.add(train_step_kind());
  r.add(eval_step_kind());
  r.add(predict_kind());
  r.add(checkpoint_kind());
}

}  // namespace ft

// Registration of the train stage family.
#include "stages/register_all.hpp"

namespace ft {
void register_train_stages(Registry& /*r*/) {}
}  // namespace ft

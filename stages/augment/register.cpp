// Registration of the augment stage family.
#include "stages/register_all.hpp"

namespace ft {
void register_augment_stages(Registry& /*r*/) {}
}  // namespace ft

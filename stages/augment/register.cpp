// Registration of the augment stage family.
#include "stages/augment/augment_stage.hpp"
#include "stages/register_all.hpp"

namespace ft {
void register_augment_stages(Registry& r) { r.add(augment_kind()); }
}  // namespace ft

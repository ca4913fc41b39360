// Registration of the batch stage family.
#include "stages/register_all.hpp"

namespace ft {
void register_batch_stages(Registry& /*r*/) {}
}  // namespace ft

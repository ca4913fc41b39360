// Registration of the source stage family.
#include "stages/register_all.hpp"

namespace ft {
void register_source_stages(Registry& /*r*/) {}
}  // namespace ft

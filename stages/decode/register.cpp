// Registration of the decode stage family.
#include "stages/register_all.hpp"

namespace ft {
void register_decode_stages(Registry& /*r*/) {}
}  // namespace ft

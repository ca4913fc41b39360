// Registration of the metrics stage family.
#include "stages/register_all.hpp"

namespace ft {
void register_metrics_stages(Registry& /*r*/) {}
}  // namespace ft

// Registration of the source stage family.
#include "stages/register_all.hpp"
#include "stages/source/read_files.hpp"

namespace ft {
void register_source_stages(Registry& r) { r.add(read_files_kind()); }
}  // namespace ft

// Registration of the decode stage family.
#include "stages/decode/decode_jpeg.hpp"
#include "stages/register_all.hpp"

namespace ft {
void register_decode_stages(Registry& r) { r.add(decode_jpeg_kind()); }
}  // namespace ft

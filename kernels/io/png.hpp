// PNG writer (libpng) for preview grids and plots: u8 HWC pixels, 1 (gray) or 3 (RGB) channels.
#pragma once

#include <cstdint>
#include <string>

namespace ft::io {

// Writes path atomically enough for previews (a failed write leaves no partial file behind).
// Throws std::runtime_error naming the path.
void write_png(const std::string& path, const std::uint8_t* pixels, int height, int width,
               int channels);

}  // namespace ft::io

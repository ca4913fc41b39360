// libpng writer. libpng reports errors by longjmp; everything that must be cleaned up after one
// lives outside the setjmp frame.
#include "kernels/io/png.hpp"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace ft::io {

void write_png(const std::string& path, const std::uint8_t* pixels, int height, int width,
               int channels) {
  if (channels != 1 && channels != 3)
    throw std::invalid_argument(path + ": PNG channels must be 1 or 3");
  if (height <= 0 || width <= 0) throw std::invalid_argument(path + ": empty image");
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error(path + ": cannot create: " + std::strerror(errno));
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, nullptr);
    std::fclose(f);
    std::remove(path.c_str());
    throw std::runtime_error(path + ": libpng initialisation failed");
  }
  bool failed = false;
  if (setjmp(png_jmpbuf(png))) {
    failed = true;
  } else {
    png_init_io(png, f);
    png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    const std::size_t stride = static_cast<std::size_t>(width) * channels;
    for (int y = 0; y < height; ++y)
      png_write_row(png, const_cast<png_bytep>(pixels + static_cast<std::size_t>(y) * stride));
    png_write_end(png, nullptr);
  }
  png_destroy_write_struct(&png, &info);
  const bool close_failed = std::fclose(f) != 0;
  if (failed || close_failed) {
    std::remove(path.c_str());
    throw std::runtime_error(path + ": writing PNG failed");
  }
}

}  // namespace ft::io

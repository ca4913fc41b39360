// kernels/io/png: a written PNG reads back (through libpng's simplified API) with the same pixels.
#include "kernels/io/png.hpp"

#include <doctest/doctest.h>
#include <png.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

TEST_CASE("PNG round trip, gray and RGB") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("ft_io_png_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (int c : {1, 3}) {
    std::vector<std::uint8_t> px(5 * 7 * c);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 13);
    // Built with += : GCC 12 at -O3 gives a false -Wrestrict on "p" + std::to_string(c) + ".png".
    std::string name = "p";
    name += std::to_string(c);
    name += ".png";
    const std::string path = (dir / name).string();
    ft::io::write_png(path, px.data(), 5, 7, c);
    png_image img{};
    img.version = PNG_IMAGE_VERSION;
    REQUIRE(png_image_begin_read_from_file(&img, path.c_str()));
    CHECK(img.height == 5);
    CHECK(img.width == 7);
    img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    std::vector<std::uint8_t> back(PNG_IMAGE_SIZE(img));
    REQUIRE(png_image_finish_read(&img, nullptr, back.data(), 0, nullptr));
    CHECK(back == px);
  }
  CHECK_THROWS_WITH(ft::io::write_png((dir / "no/such/dir.png").string(), nullptr, 1, 1, 1),
                    doctest::Contains("cannot create"));
  std::filesystem::remove_all(dir);
}

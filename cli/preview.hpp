// `flowtrain preview`: one batch of n samples through the graph up to a stage, drawn as a PNG grid
// with each sample's label under its tile, so users see what an augmentation does.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace ft {

void add_preview(CLI::App& app);

// The grid's layout, shared with the tests: tiles of the largest image scaled up by an integer
// factor (small images get at least ~96 px), a label strip under each tile, kGap between tiles.
struct PreviewLayout {
  static constexpr int kGap = 4;
  static constexpr int kStrip = 14;  // label strip height: 5-row font at 2x, plus margins
  int scale = 1, cols = 1, rows = 1, tile_h = 0, tile_w = 0;
  int width() const { return cols * tile_w + (cols + 1) * kGap; }
  int height() const { return rows * (tile_h + kStrip) + (rows + 1) * kGap; }
};
PreviewLayout preview_layout(int n, int image_h, int image_w);

}  // namespace ft

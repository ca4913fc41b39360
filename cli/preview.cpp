// `flowtrain preview` (see preview.hpp). The graph is cut after the chosen stage and a capture
// stage appended; the source's batch size is overridden to n and one batch runs. Stages run with
// a throwaway run folder so a preview never touches a real run's metrics or checkpoints.
#include "cli/preview.hpp"

#include <fmt/format.h>
#include <omp.h>
#include <tbb/global_control.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/run.hpp"
#include "kernels/augment/pixel.hpp"
#include "kernels/io/png.hpp"
#include "pipeline/error.hpp"

namespace ft {

namespace fs = std::filesystem;

PreviewLayout preview_layout(int n, int image_h, int image_w) {
  PreviewLayout l;
  l.scale = std::max(1, 96 / std::max({image_h, image_w, 1}));
  l.cols = std::max(1, static_cast<int>(std::ceil(std::sqrt(static_cast<double>(n)))));
  l.rows = std::max(1, (n + l.cols - 1) / l.cols);
  l.tile_h = image_h * l.scale;
  l.tile_w = image_w * l.scale;
  return l;
}

namespace {

// Samples as they left the stage, already turned back into displayable u8 HWC.
struct Captured {
  std::vector<std::int32_t> labels;
  std::vector<ImageDims> dims;
  std::vector<std::vector<std::uint8_t>> pixels;
  std::string column;  // "image" or "input"
};

// The last normalize op upstream of the preview point (mean/std to undo); empty when none.
struct Normalization {
  std::vector<double> mean, stdev;
};

std::vector<double> numbers(const toml::node* n) {
  std::vector<double> out;
  if (!n) return out;
  if (auto v = n->value<double>()) out.push_back(*v);
  if (const auto* a = n->as_array())
    for (const auto& e : *a)
      if (auto v = e.value<double>()) out.push_back(*v);
  return out;
}

Normalization find_normalization(const ResolvedGraph& g, Split split) {
  Normalization norm;
  for (const auto& s : g.chain) {
    if (s.kind->name != "augment" || !s.active(split)) continue;
    const toml::array* ops = s.params.get_array("ops");
    if (!ops) continue;
    for (const auto& op : *ops)
      if (const auto* t = op.as_table();
          t && t->get("op") && t->get("op")->value_or<std::string>("") == "normalize") {
        norm.mean = numbers(t->get("mean"));
        norm.stdev = numbers(t->get("std"));
      }
  }
  return norm;
}

// f32 CHW -> u8 HWC: undo normalize with its mean/std when known (shows brightness changes as the
// model sees them); otherwise stretch min..max of the image to 0..255.
std::vector<std::uint8_t> to_display(const float* chw, int c, int h, int w,
                                     const Normalization& norm) {
  const std::size_t plane = static_cast<std::size_t>(h) * w;
  std::vector<std::uint8_t> out(plane * c);
  const bool undo = !norm.mean.empty() && !norm.stdev.empty();
  float lo = 0, hi = 1;
  if (!undo && plane * c > 0) {
    const auto [mn, mx] = std::minmax_element(chw, chw + plane * c);
    lo = *mn;
    hi = *mx > *mn ? *mx : *mn + 1;
  }
  for (int ch = 0; ch < c; ++ch) {
    const double m = undo ? norm.mean[std::min<std::size_t>(ch, norm.mean.size() - 1)] : 0;
    const double sd = undo ? norm.stdev[std::min<std::size_t>(ch, norm.stdev.size() - 1)] : 1;
    for (std::size_t i = 0; i < plane; ++i) {
      const double v = undo ? chw[ch * plane + i] * sd + m : (chw[ch * plane + i] - lo) / (hi - lo);
      out[i * c + ch] = static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0, 1.0) * 255.0));
    }
  }
  return out;
}

class CaptureStage final : public Stage {
 public:
  CaptureStage(std::shared_ptr<Captured> out, Normalization norm)
      : out_(std::move(out)), norm_(std::move(norm)) {}
  void run(Batch& b) override {
    Captured& c = *out_;
    const std::size_t n =
        b.image.size() ? b.image.size() : (b.input.shape.size() == 4 ? b.input.shape[0] : 0);
    c.column = b.image.size() ? col::kImage : col::kInput;
    for (std::size_t i = 0; i < n; ++i) {
      c.labels.push_back(i < b.label.size() ? b.label[i] : -1);
      if (b.image.size()) {
        const ImageDims d = b.image.dims[i];
        c.dims.push_back(d);
        if (b.image.dtype == DType::u8) {
          c.pixels.emplace_back(b.image.u8_at(i), b.image.u8_at(i) + d.numel());
        } else if (b.image.dtype == DType::bf16) {
          std::vector<float> wide(d.numel());
          for (std::size_t e = 0; e < wide.size(); ++e)
            wide[e] = aug::bf16_to_f32(b.image.bf16_at(i)[e]);
          c.pixels.push_back(to_display(wide.data(), d.c, d.h, d.w, norm_));
        } else {
          c.pixels.push_back(to_display(b.image.f32_at(i), d.c, d.h, d.w, norm_));
        }
      } else {
        const int ch = static_cast<int>(b.input.shape[1]), h = static_cast<int>(b.input.shape[2]),
                  w = static_cast<int>(b.input.shape[3]);
        c.dims.push_back({h, w, ch});
        c.pixels.push_back(to_display(
            b.input.data.data() + i * static_cast<std::size_t>(ch) * h * w, ch, h, w, norm_));
      }
    }
  }

 private:
  std::shared_ptr<Captured> out_;
  Normalization norm_;
};

// 3x5 bitmap digits and '-', one row per 3-bit mask (bit 2 = left column).
constexpr std::uint8_t kFont[11][5] = {{7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7},
                                       {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7},
                                       {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7},
                                       {7, 5, 7, 1, 7}, {0, 0, 7, 0, 0}};

void draw_text(std::vector<std::uint8_t>& img, int width, int channels, int x0, int y0,
               const std::string& text) {
  constexpr int kDot = 2;  // each font pixel is 2x2
  for (std::size_t k = 0; k < text.size(); ++k) {
    const int glyph = text[k] == '-' ? 10 : text[k] - '0';
    if (glyph < 0 || glyph > 10) continue;
    for (int r = 0; r < 5; ++r)
      for (int col = 0; col < 3; ++col) {
        if (!(kFont[glyph][r] >> (2 - col) & 1)) continue;
        for (int dy = 0; dy < kDot; ++dy)
          for (int dx = 0; dx < kDot; ++dx) {
            const int x = x0 + static_cast<int>(k) * 4 * kDot + col * kDot + dx,
                      y = y0 + r * kDot + dy;
            for (int ch = 0; ch < channels; ++ch)
              img[(static_cast<std::size_t>(y) * width + x) * channels + ch] = 255;
          }
      }
  }
}

void write_grid(const Captured& c, const std::string& path) {
  int h = 1, w = 1, channels = 1;
  for (const auto& d : c.dims) {
    h = std::max(h, d.h);
    w = std::max(w, d.w);
    if (d.c == 3) channels = 3;
  }
  const int n = static_cast<int>(c.dims.size());
  const PreviewLayout l = preview_layout(n, h, w);
  const int width = l.width(), height = l.height();
  std::vector<std::uint8_t> img(static_cast<std::size_t>(width) * height * channels, 48);
  for (int i = 0; i < n; ++i) {
    const int x0 = PreviewLayout::kGap + (i % l.cols) * (l.tile_w + PreviewLayout::kGap);
    const int y0 = PreviewLayout::kGap +
                   (i / l.cols) * (l.tile_h + PreviewLayout::kStrip + PreviewLayout::kGap);
    const ImageDims d = c.dims[i];
    const int ox = (l.tile_w - d.w * l.scale) / 2,
              oy = (l.tile_h - d.h * l.scale) / 2;  // smaller images centred
    for (int y = 0; y < d.h * l.scale; ++y)
      for (int x = 0; x < d.w * l.scale; ++x)
        for (int ch = 0; ch < channels; ++ch) {
          const int src_ch = d.c == 1 ? 0 : std::min(ch, d.c - 1);
          img[(static_cast<std::size_t>(y0 + oy + y) * width + x0 + ox + x) * channels + ch] =
              c.pixels[i]
                      [(static_cast<std::size_t>(y / l.scale) * d.w + x / l.scale) * d.c + src_ch];
        }
    for (int y = 0; y < PreviewLayout::kStrip; ++y)
      for (int x = 0; x < l.tile_w; ++x)
        for (int ch = 0; ch < channels; ++ch)
          img[(static_cast<std::size_t>(y0 + l.tile_h + y) * width + x0 + x) * channels + ch] = 0;
    const std::string text = std::to_string(c.labels[i]);
    const int text_w = static_cast<int>(text.size()) * 8 - 2;
    draw_text(img, width, channels, x0 + std::max(0, (l.tile_w - text_w) / 2), y0 + l.tile_h + 2,
              text);
  }
  try {
    io::write_png(path, img.data(), height, width, channels);
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

struct PreviewOptions {
  RunOptions run;
  std::string stage, out, split = "train";
  int n = 16;
};

// The source's id, after checking --stage against the graph as configured.
std::string check_stage(const PreviewOptions& opt) {
  const Config cfg = load_config(opt.run.config_path, opt.run.overrides);
  const ResolvedGraph g = resolve_graph(cfg, builtin_registry());
  std::vector<std::string> ids;
  for (const auto& s : g.chain) ids.push_back(s.id);
  if (std::find(ids.begin(), ids.end(), opt.stage) == ids.end()) {
    const std::string near = closest(opt.stage, ids);
    throw ConfigError(fmt::format(
        "preview --stage '{}': no such stage in {}{}; stages: {}", opt.stage, opt.run.config_path,
        near.empty() ? "" : fmt::format(" (did you mean '{}'?)", near), fmt::join(ids, ", ")));
  }
  return g.chain[0].id;
}

// Cuts the graph after --stage and appends a stage that captures what reaches it.
std::shared_ptr<Captured> cut_and_capture(const PreviewOptions& opt, ResolvedGraph& graph,
                                          Split split) {
  std::size_t cut = 0;
  while (graph.chain[cut].id != opt.stage) ++cut;
  const ResolvedStage& target = graph.chain[cut];
  if (cut > 0 && !target.active(split)) {
    std::vector<std::string> names;
    for (Split s : target.splits) names.push_back(split_name(s));
    throw ConfigError(fmt::format(
        "preview: stage '{}' runs only in [{}], not in the {} split; try --split {}", opt.stage,
        fmt::join(names, ", "), opt.split, names.empty() ? "train" : names[0]));
  }
  graph.chain.resize(cut + 1);

  auto captured = std::make_shared<Captured>();
  static StageKind capture_kind;  // lives past the Pipeline that points at it
  capture_kind.name = "preview_capture";
  capture_kind.serial = true;
  capture_kind.make = [captured, norm = find_normalization(graph, split)](const Params&) {
    return std::make_unique<CaptureStage>(captured, norm);
  };
  ResolvedStage cap;
  cap.id = "preview_capture";
  cap.kind = &capture_kind;
  cap.splits = {Split::train, Split::val, Split::test};
  cap.concurrency = 1;
  graph.chain.push_back(std::move(cap));
  return captured;
}

// One batch through the cut graph. Stages past the cut may write into the run folder
// (metrics.csv, checkpoints): they get a throwaway one, removed afterwards.
void run_one_batch(const PreviewOptions& opt, PreparedRun& p, Split split) {
  const fs::path scratch =
      fs::temp_directory_path() / fmt::format("flowtrain-preview-{}", getpid());
  fs::create_directories(scratch);
  p.ctx.run_dir = scratch;
  p.ctx.config = &p.config.root;
  omp_set_num_threads(p.omp_threads);
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              static_cast<std::size_t>(p.ctx.threads));
  try {
    Pipeline pipeline(p.graph, p.ctx, p.in_flight);
    pipeline.setup();
    if (pipeline.run_pass(split, 1, 1) == 0)
      throw ConfigError(
          fmt::format("preview: {} has no {} samples", opt.run.config_path, opt.split));
  } catch (...) {
    std::error_code ec;
    fs::remove_all(scratch, ec);
    throw;
  }
  std::error_code ec;
  fs::remove_all(scratch, ec);
}

void run_preview(PreviewOptions& opt) {
  const std::string source_id = check_stage(opt);
  opt.run.overrides.push_back(fmt::format("{}.batch_size={}", source_id, opt.n));
  opt.run.quiet = true;
  PreparedRun p = prepare_run(opt.run, /*create_run_dir=*/false);
  const Split split = opt.split == "val" ? Split::val : Split::train;
  const std::shared_ptr<Captured> captured = cut_and_capture(opt, p.graph, split);
  const std::string out = opt.out.empty()
                              ? (p.ctx.run_dir / fmt::format("preview_{}.png", opt.stage)).string()
                              : opt.out;
  run_one_batch(opt, p, split);
  if (captured->dims.empty())
    throw ConfigError(fmt::format(
        "preview: after stage '{}' the batch has no image or input column to draw", opt.stage));

  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path());
  write_grid(*captured, out);
  const ImageDims d0 = captured->dims[0];
  const PreviewLayout l = preview_layout(static_cast<int>(captured->dims.size()), d0.h, d0.w);
  std::cout << fmt::format(
      "preview: {} {} samples after stage '{}' ({} column, {}x{}x{}{}), label under each: {} "
      "({}x{} px)\n",
      captured->dims.size(), opt.split, opt.stage, captured->column, d0.h, d0.w, d0.c,
      captured->dims.size() < static_cast<std::size_t>(opt.n)
          ? ", fewer than asked: the split is small"
          : "",
      out, l.width(), l.height());
}

}  // namespace

void add_preview(CLI::App& app) {
  auto opt = std::make_shared<PreviewOptions>();
  auto* cmd = app.add_subcommand(
      "preview", "draw a PNG grid of samples as they leave a stage, labels under each");
  cmd->add_option("config", opt->run.config_path, "TOML config")->required();
  cmd->add_option("--stage", opt->stage, "stage id to look after (e.g. augment)")->required();
  cmd->add_option("--n", opt->n, "samples to draw (default 16)")->check(CLI::Range(1, 1024));
  cmd->add_option("--out", opt->out, "PNG path (default <run folder>/preview_<stage>.png)");
  cmd->add_option("--split", opt->split, "train or val (default train)")
      ->check(CLI::IsMember({"train", "val"}));
  cmd->add_option("--set", opt->run.overrides, "override a key: KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  cmd->callback([opt] { run_preview(*opt); });
}

}  // namespace ft

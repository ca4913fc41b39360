// `flowtrain synth` (see synth.hpp): per-class colour and stripes, per-image phase, jitter and
// noise from a counter-based generator (splitmix64 of seed, split, index), JPEG-encoded in
// parallel with the encoder `import` uses, written into a temp folder renamed into place.
#include "cli/synth.hpp"

#include <fmt/format.h>
#include <tbb/parallel_for.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <numbers>
#include <vector>

#include "kernels/io/jpeg.hpp"
#include "pipeline/error.hpp"

namespace ft {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = ".flowtrain-synth";
constexpr int kQuality = 90;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A stream of uniform floats in [0, 1) for one image.
struct Draws {
  std::uint64_t state;
  float next() {
    state = splitmix64(state);
    return static_cast<float>(state >> 40) / static_cast<float>(1ull << 24);
  }
};

// What tells class c apart: a colour (evenly spaced hues) and a stripe orientation and frequency.
struct ClassLook {
  float rgb[3];
  float angle, cycles;
};

ClassLook class_look(int c, int classes) {
  ClassLook look{};
  const float hue = 6.0f * static_cast<float>(c) / static_cast<float>(classes);
  for (int k = 0; k < 3; ++k) {  // a smooth hue wheel in [-1, 1] per channel
    const float d = std::fmod(hue + 2.0f * static_cast<float>(k), 6.0f);
    look.rgb[k] = std::clamp(std::abs(d - 3.0f) - 1.0f, 0.0f, 1.0f) * 2.0f - 1.0f;
  }
  look.angle = static_cast<float>(std::numbers::pi) * static_cast<float>((c * 5) % 8) / 8.0f;
  look.cycles = 2.0f + static_cast<float>((c * 3) % 5);
  return look;
}

std::vector<std::uint8_t> synth_image(const ClassLook& look, int size, Draws& r) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(size) * size * 3);
  const float phase = 2.0f * static_cast<float>(std::numbers::pi) * r.next();
  const float bright = 110.0f + 40.0f * r.next();
  const float ca = std::cos(look.angle), sa = std::sin(look.angle);
  const float k = 2.0f * static_cast<float>(std::numbers::pi) * look.cycles / size;
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const float stripe = std::sin(k * (x * ca + y * sa) + phase);
      for (int c = 0; c < 3; ++c) {
        const float v = bright + 45.0f * look.rgb[c] + 40.0f * stripe + 70.0f * (r.next() - 0.5f);
        px[(static_cast<std::size_t>(y) * size + x) * 3 + c] =
            static_cast<std::uint8_t>(std::clamp(std::lround(v), 0l, 255l));
      }
    }
  return px;
}

std::string image_name(const char* prefix, std::size_t i) {
  return fmt::format("{}_{:05d}.jpg", prefix, i);
}

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) throw Error(fmt::format("synth: writing {} failed (disk full?)", path.string()));
}

// n images of one split into dir/<folder>/<prefix>_NNNNN.jpg and their labels into dir/<csv>.
void write_split(const SynthOptions& opt, const fs::path& dir, const char* folder,
                 const char* prefix, const char* csv, std::size_t n, std::uint64_t split) {
  fs::create_directories(dir / folder);
  std::vector<ClassLook> looks;
  for (int c = 0; c < opt.classes; ++c) looks.push_back(class_look(c, opt.classes));
  tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
    Draws r{splitmix64(opt.seed * 0x100000001B3ull ^ splitmix64((split << 40) ^ i))};
    const auto px = synth_image(looks[i % opt.classes], opt.size, r);
    const auto jpg = io::encode_jpeg(px.data(), opt.size, opt.size, 3, kQuality);
    try {
      io::write_file_bytes((dir / folder / image_name(prefix, i)).string(), jpg.data(), jpg.size());
    } catch (const std::runtime_error& e) {
      throw Error(std::string("synth: ") + e.what());
    }
  });
  std::string text = "Id,Label\n";
  for (std::size_t i = 0; i < n; ++i)
    text += fmt::format("{},{}\n", image_name(prefix, i), i % opt.classes);
  write_text_file(dir / csv, text);
}

std::string marker_text(const SynthOptions& o) {
  return fmt::format("synth format=1 classes={} train={} test={} seed={} size={} quality={}\n",
                     o.classes, o.train, o.test, o.seed, o.size, kQuality);
}

std::string read_small_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string s(4096, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

}  // namespace

SynthSummary write_synth_dataset(const SynthOptions& given) {
  SynthOptions opt = given;
  if (!opt.out.empty() && !opt.out.has_filename()) opt.out = opt.out.parent_path();  // "d/"
  if (opt.classes < 1 || opt.classes > 100000)
    throw ConfigError(fmt::format("synth: --classes {} is not in [1, 100000]", opt.classes));
  if (opt.size < 8 || opt.size > 4096)
    throw ConfigError(fmt::format("synth: --size {} is not in [8, 4096]", opt.size));
  if (opt.train == 0) opt.train = 20 * static_cast<std::size_t>(opt.classes);
  if (opt.test == 0) opt.test = 5 * static_cast<std::size_t>(opt.classes);
  if (opt.train > 10'000'000 || opt.test > 10'000'000)
    throw ConfigError("synth: at most 10000000 images per split");
  if (opt.out.empty() || opt.out.filename().empty() || opt.out.filename() == "." ||
      opt.out.filename() == "..")
    throw ConfigError(fmt::format("synth: --out '{}' must name a folder", opt.out.string()));
  SynthSummary sum{opt.train, opt.test, false};
  const std::string marker = marker_text(opt);
  std::error_code ec;
  if (fs::exists(opt.out, ec)) {
    if (read_small_file(opt.out / kMarker) == marker) {
      sum.skipped = true;
      return sum;
    }
    throw ConfigError(fmt::format(
        "synth: '{}' already exists{}; remove it or choose another --out", opt.out.string(),
        fs::exists(opt.out / kMarker) ? " (a synthetic dataset made with other options)" : ""));
  }
  fs::path parent = opt.out.parent_path();
  if (parent.empty()) parent = ".";
  const fs::path tmp = parent / fmt::format("{}.tmp-{}", opt.out.filename().string(), ::getpid());
  try {
    fs::create_directories(parent);
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    write_split(opt, tmp, "trainval", "trainval", "labels.csv", opt.train, 1);
    write_split(opt, tmp, "test", "test", "test_labels.csv", opt.test, 2);
    write_text_file(tmp / kMarker, marker);
    fs::rename(tmp, opt.out);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(tmp, ec);
    throw Error(std::string("synth: ") + e.what());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  return sum;
}

void add_synth(CLI::App& app) {
  auto opt = std::make_shared<SynthOptions>();
  auto* cmd = app.add_subcommand(
      "synth", "write a learnable synthetic dataset in the BHW1 layout (smoke tests)");
  cmd->add_option("--out", opt->out, "output folder (must not exist)")->required();
  cmd->add_option("--classes", opt->classes, "number of classes")->required();
  cmd->add_option("--train", opt->train, "trainval images (default 20 per class)");
  cmd->add_option("--test", opt->test, "test images (default 5 per class)");
  cmd->add_option("--seed", opt->seed, "seed of every draw (default 0)");
  cmd->add_option("--size", opt->size, "image height and width in pixels (default 64)");
  cmd->callback([opt] {
    const SynthSummary s = write_synth_dataset(*opt);
    std::cout << fmt::format(
        "synthetic dataset in {}: {} classes, {} trainval + {} test images{}\n", opt->out.string(),
        opt->classes, s.train, s.test, s.skipped ? " (already there)" : "");
  });
}

}  // namespace ft

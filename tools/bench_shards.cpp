// bench_shards: read + decode throughput from separate JPEG files against WebDataset shards, with
// the reader flowtrain's sources use (append_sample_bytes) and its TurboJPEG decoder, N threads
// taking batches of 128 samples of one shuffled pass. tools/bench_shards.sh drives it.
//   bench_shards gen OUT N            N 64x64 colour JPEGs in OUT/images + OUT/labels.csv
//   bench_shards read DATA THREADS ORDER   DATA = OUT (files, via labels.csv) or a shard folder;
//                                          ORDER = global | window (8192)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "kernels/io/jpeg.hpp"
#include "kernels/random/philox.hpp"
#include "stages/source/sample_order.hpp"
#include "stages/source/shards.hpp"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A smooth colour gradient with noise and a few blocks: JPEG sizes like small photos (~2-3 KB).
std::vector<std::uint8_t> synth_image(std::uint64_t i) {
  ft::rng::Philox g(7, 0, i, 1);
  std::vector<std::uint8_t> px(64 * 64 * 3);
  const float a = g.uniform(0, 6.28f), b = g.uniform(0.02f, 0.2f);
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) {
        const float v = 128 + 90 * std::sin(a + b * (x + 2 * y) + c) + g.uniform(-24, 24) +
                        (((x / 16 + y / 16 + static_cast<int>(i)) % 3 == c) ? 40 : 0);
        px[(y * 64 + x) * 3 + c] = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 255.0f));
      }
  return ft::io::encode_jpeg(px.data(), 64, 64, 3, 90);
}

int gen(const fs::path& out, std::size_t n) {
  fs::create_directories(out / "images");
  std::ofstream csv(out / "labels.csv");
  csv << "Id,Label\n";
  for (std::size_t i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%07zu.jpg", i);
    const auto jpeg = synth_image(i);
    ft::io::write_file_bytes((out / "images" / name).string(), jpeg.data(), jpeg.size());
    csv << name << "," << i % 10 << "\n";
  }
  return 0;
}

int read(const fs::path& data, int threads, const std::string& order_name) {
  const auto t0 = Clock::now();
  const bool shards = !fs::exists(data / "labels.csv");
  const ft::Dataset ds = shards ? ft::read_shard_dataset(data, 0)
                                : ft::read_csv_dataset(data / "images", data / "labels.csv");
  const ft::OrderSpec spec{
      order_name == "window" ? ft::ShuffleMode::window : ft::ShuffleMode::global, 8192};
  const std::vector<std::uint32_t> order = ft::sample_order(ds, spec, 1, 1);
  const auto t1 = Clock::now();
  std::atomic<std::size_t> next{0}, pixels{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      std::vector<std::uint8_t> bytes;
      ft::io::JpegDecoder& dec = ft::io::thread_jpeg_decoder();
      std::vector<std::uint8_t> img(64 * 64 * 3);
      for (;;) {
        const std::size_t begin = next.fetch_add(128);
        if (begin >= order.size()) break;
        const std::size_t end = std::min(order.size(), begin + 128);
        for (std::size_t k = begin; k < end; ++k) {
          bytes.clear();
          ft::append_sample_bytes(ds, ds.samples[order[k]], bytes);
          const ft::io::JpegInfo info = dec.header(bytes.data(), bytes.size(), "x");
          img.resize(static_cast<std::size_t>(info.height) * info.width * info.channels);
          dec.decode(bytes.data(), bytes.size(), img.data(), info, info.channels, "x");
          pixels += img.size();
        }
      }
    });
  for (auto& th : pool) th.join();
  const double load = std::chrono::duration<double>(t1 - t0).count();
  const double pass = std::chrono::duration<double>(Clock::now() - t1).count();
  std::printf("%-6s %-6s threads=%d  %zu images  load %.2f s  read+decode %.2f s  %.0f images/s\n",
              shards ? "shards" : "files", order_name.c_str(), threads, ds.size(), load, pass,
              static_cast<double>(ds.size()) / pass);
  return pixels.load() > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "gen" && argc == 4) return gen(argv[2], std::stoul(argv[3]));
    if (mode == "read" && argc == 5) return read(argv[2], std::stoi(argv[3]), argv[4]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_shards: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: bench_shards gen OUT N | read DATA THREADS global|window\n");
  return 2;
}

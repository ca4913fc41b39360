// bench_decode: raw libjpeg-turbo decode throughput over a folder of JPEGs, files preloaded in
// memory, 1 and N threads (std::thread, one TurboJPEG handle each). The floor against which the
// data pipeline (read -> decode -> augment -> batch) is compared by tools/bench_data.sh.
//   bench_decode DIR [THREADS=2] [LIMIT=0 (all)] [SECONDS=3]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "kernels/io/jpeg.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Decodes the whole set repeatedly until `seconds` have passed; returns images/s.
double run(const std::vector<std::vector<std::uint8_t>>& files, int threads, double seconds,
           std::size_t& checksum) {
  std::atomic<std::size_t> decoded{0}, sum{0};
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(seconds);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      ft::io::JpegDecoder& dec = ft::io::thread_jpeg_decoder();
      std::vector<std::uint8_t> out;
      std::size_t n = 0, s = 0;
      for (std::size_t i = static_cast<std::size_t>(t); Clock::now() < deadline;
           i += static_cast<std::size_t>(threads)) {
        const auto& f = files[i % files.size()];
        const ft::io::JpegInfo info = dec.header(f.data(), f.size(), "bench");
        out.resize(static_cast<std::size_t>(info.height) * info.width * info.channels);
        dec.decode(f.data(), f.size(), out.data(), info, info.channels, "bench");
        s += out[out.size() / 2];
        ++n;
      }
      decoded += n;
      sum += s;
    });
  for (auto& th : pool) th.join();
  checksum = sum;
  return static_cast<double>(decoded) / std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_decode DIR [THREADS=2] [LIMIT=0] [SECONDS=3]\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const std::size_t limit = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 0;
  const double seconds = argc > 4 ? std::atof(argv[4]) : 3.0;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".jpg") names.push_back(e.path().string());
  std::sort(names.begin(), names.end());
  if (limit > 0 && names.size() > limit) names.resize(limit);
  if (names.empty()) {
    std::fprintf(stderr, "bench_decode: no .jpg files in %s\n", dir.c_str());
    return 2;
  }
  std::vector<std::vector<std::uint8_t>> files;
  files.reserve(names.size());
  for (const auto& n : names) files.push_back(ft::io::read_file_bytes(n));
  for (int t : {1, threads}) {
    std::size_t checksum = 0;
    const double ips = run(files, t, seconds, checksum);
    std::printf("raw_decode threads=%d files=%zu images_per_s=%.0f (checksum %zu)\n", t,
                files.size(), ips, checksum);
    if (threads == 1) break;
  }
  return 0;
}

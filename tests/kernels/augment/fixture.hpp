// Reader for tests/fixtures/augment/ops.bin (written by tools/make_augment_fixtures.py) and a
// comparison helper that prints the first mismatches, as llm.c's golden tests do.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/augment/types.hpp"

namespace ft::aug::test {

struct Record {
  std::string name, input;
  std::vector<double> params;
  bool f32 = false;
  Dims dims;
  std::vector<std::uint8_t> u8;
  std::vector<float> f;
};

inline const std::map<std::string, Record>& fixtures() {
  static const std::map<std::string, Record> all = [] {
    const char* root = std::getenv("FT_SOURCE_ROOT");
    const std::string path = std::string(root ? root : ".") + "/tests/fixtures/augment/ops.bin";
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error("cannot open " + path + " (set FT_SOURCE_ROOT)");
    auto rd = [&](void* p, std::size_t n) {
      if (!f.read(static_cast<char*>(p), static_cast<std::streamsize>(n)))
        throw std::runtime_error(path + ": truncated");
    };
    char magic[8];
    rd(magic, 8);
    if (std::string(magic, 8) != "FTAUGFX1") throw std::runtime_error(path + ": bad magic");
    std::uint32_t count = 0;
    rd(&count, 4);
    std::map<std::string, Record> out;
    for (std::uint32_t r = 0; r < count; ++r) {
      Record rec;
      for (std::string* s : {&rec.name, &rec.input}) {
        std::uint16_t n = 0;
        rd(&n, 2);
        s->resize(n);
        rd(s->data(), n);
      }
      std::uint8_t np = 0;
      rd(&np, 1);
      rec.params.resize(np);
      rd(rec.params.data(), 8u * np);
      std::uint8_t dtype = 0;
      std::uint32_t hwc[3];
      rd(&dtype, 1);
      rd(hwc, 12);
      rec.f32 = dtype == 1;
      rec.dims = {static_cast<int>(hwc[0]), static_cast<int>(hwc[1]), static_cast<int>(hwc[2])};
      if (rec.f32) {
        rec.f.resize(rec.dims.numel());
        rd(rec.f.data(), 4 * rec.f.size());
      } else {
        rec.u8.resize(rec.dims.numel());
        rd(rec.u8.data(), rec.u8.size());
      }
      out.emplace(rec.name, std::move(rec));
    }
    return out;
  }();
  return all;
}

inline const Record& fixture(const std::string& name) {
  auto it = fixtures().find(name);
  if (it == fixtures().end()) throw std::runtime_error("fixture " + name + " missing");
  return it->second;
}

// All records whose name starts with prefix.
inline std::vector<const Record*> fixtures_with(const std::string& prefix) {
  std::vector<const Record*> out;
  for (auto& [k, v] : fixtures())
    if (k.rfind(prefix, 0) == 0) out.push_back(&v);
  return out;
}

// Number of elements differing by more than tol; prints the first few.
inline int count_mismatches(const std::string& what, const std::uint8_t* got,
                            const std::uint8_t* want, std::size_t n, int tol) {
  int bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::abs(int(got[i]) - int(want[i])) <= tol) continue;
    if (bad++ < 5)
      std::printf(
          "%s: element %zu got %d want %d (regenerate: /usr/bin/python3 "
          "tools/make_augment_fixtures.py)\n",
          what.c_str(), i, got[i], want[i]);
  }
  return bad;
}

inline int count_mismatches(const std::string& what, const float* got, const float* want,
                            std::size_t n, float tol) {
  int bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::fabs(got[i] - want[i]) <= tol) continue;
    if (bad++ < 5)
      std::printf("%s: element %zu got %.7f want %.7f\n", what.c_str(), i, got[i], want[i]);
  }
  return bad;
}

}  // namespace ft::aug::test

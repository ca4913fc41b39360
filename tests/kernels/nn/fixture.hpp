// Reads the PyTorch reference fixtures written by tools/make_nn_fixtures.py (format version 1),
// generates the same hash-based weights and inputs, and compares tensors printing the first
// mismatches and how to regenerate the files.
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

#include "kernels/nn/parameter.hpp"

namespace ft::nn::testing {

inline constexpr const char* kRegenerate = "/usr/bin/python3 tools/make_nn_fixtures.py";

struct Tensor {
  std::vector<std::int64_t> dims;
  std::vector<float> data;
};

class Fixture {
 public:
  explicit Fixture(const std::string& file) {
    const char* root = std::getenv("FT_SOURCE_ROOT");
    path_ = std::string(root ? root : ".") + "/tests/fixtures/nn/" + file;
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw std::runtime_error(path_ + ": cannot open (regenerate: " + kRegenerate + ")");
    char magic[8];
    std::uint32_t version = 0, count = 0;
    in.read(magic, 8);
    in.read(reinterpret_cast<char*>(&version), 4);
    in.read(reinterpret_cast<char*>(&count), 4);
    if (!in || std::string(magic, 7) != "FTNNFIX" || version != 1)
      throw std::runtime_error(path_ + ": not a version-1 nn fixture (regenerate: " + kRegenerate +
                               ")");
    for (std::uint32_t r = 0; r < count; ++r) {
      std::uint32_t len = 0, ndim = 0;
      in.read(reinterpret_cast<char*>(&len), 4);
      std::string name(len, '\0');
      in.read(name.data(), len);
      in.read(reinterpret_cast<char*>(&ndim), 4);
      Tensor t;
      t.dims.resize(ndim);
      in.read(reinterpret_cast<char*>(t.dims.data()), std::streamsize(8 * ndim));
      std::int64_t n = 1;
      for (auto d : t.dims) n *= d;
      t.data.resize(std::size_t(n));
      in.read(reinterpret_cast<char*>(t.data.data()), std::streamsize(4 * n));
      if (!in) throw std::runtime_error(path_ + ": truncated at record " + std::to_string(r));
      tensors_.emplace(std::move(name), std::move(t));
    }
  }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const Tensor& at(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end())
      throw std::runtime_error(path_ + ": no record \"" + name + "\" (regenerate: " + kRegenerate +
                               ")");
    return it->second;
  }
  const std::vector<float>& data(const std::string& name) const { return at(name).data; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::map<std::string, Tensor> tensors_;
};

// |actual - expected| <= rtol * (|expected| + max|expected|) + atol everywhere: relative to each
// value and to the tensor's scale, so values near zero are judged against the tensor's magnitude.
inline bool close(const std::string& what, const float* actual, const std::vector<float>& expected,
                  double rtol, double atol = 0) {
  double scale = 0;
  for (float e : expected) scale = std::max(scale, double(std::abs(e)));
  int bad = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double a = actual[i], e = expected[i];
    if (!(std::abs(a - e) <= rtol * (std::abs(e) + scale) + atol)) {
      if (bad < 5) std::printf("  %s[%zu]: got %.8g, PyTorch %.8g\n", what.c_str(), i, a, e);
      ++bad;
    }
  }
  if (bad)
    std::printf("  %s: %d of %zu values differ (rtol %g); regenerate: %s\n", what.c_str(), bad,
                expected.size(), rtol, kRegenerate);
  return bad == 0;
}

// The twin of make_nn_fixtures.py's hash_uniform: a 32-bit hash of (index, salt) mapped to [-1, 1).
inline double hash_uniform(std::uint64_t i, std::uint64_t salt) {
  constexpr std::uint64_t m = 0xFFFFFFFFull;
  std::uint64_t x = (i * 0x9E3779B1ull + salt * 0x85EBCA77ull + 0x165667B1ull) & m;
  x ^= x >> 16;
  x = (x * 0x85EBCA6Bull) & m;
  x ^= x >> 13;
  x = (x * 0xC2B2AE35ull) & m;
  x ^= x >> 16;
  return double(x) / 4294967296.0 * 2.0 - 1.0;
}

inline std::vector<float> hash_vector(std::int64_t n, std::uint64_t salt, double scale = 1,
                                      double offset = 0) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    v[i] = float(hash_uniform(std::uint64_t(i), salt) * scale + offset);
  return v;
}

// make_nn_fixtures.py's fill_model: parameter k in state_dict order.
inline void fill_model(const std::vector<Parameter*>& params) {
  for (std::size_t k = 0; k < params.size(); ++k) {
    Parameter& p = *params[k];
    const auto n = std::int64_t(p.value.size());
    if (p.role == ParamRole::norm) {
      const bool weight = p.name.ends_with("weight");
      p.value = hash_vector(n, k, 0.1, weight ? 1.0 : 0.0);
    } else if (p.shape.size() > 1) {
      double fan_in = 1;
      for (std::size_t d = 1; d < p.shape.size(); ++d) fan_in *= double(p.shape[d]);
      p.value = hash_vector(n, k, std::sqrt(6.0 / fan_in));
    } else {
      p.value = hash_vector(n, k, 0.1);
    }
  }
}

}  // namespace ft::nn::testing

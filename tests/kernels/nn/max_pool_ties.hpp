// Max-pool backward against the CPU layer (oneDNN): what may differ, shared by the emulated
// kernel test and the GPU suite. dx[i] sums dy over the outputs whose window chose input i;
// oneDNN adds those in its own order, which depends on the ISA it dispatches to (along a row,
// within a block of outputs, right to left), so where 3 or more outputs chose one input the sum
// may differ in the last bits. One or two addends commute: those must be bit-identical.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/nn/module.hpp"

namespace ft::nn::testing {

// Per input (NCHW): how many outputs chose it, and the sum of their |dy|.
struct PoolHits {
  std::vector<int> hits;
  std::vector<float> mag;
};

// argmax[o]: the index within its (n, c) plane of the input output o chose.
inline PoolHits pool_hits(const std::vector<std::int32_t>& argmax, const float* dy, Shape in,
                          Shape out) {
  const std::int64_t ohw = std::int64_t{out.h} * out.w, ihw = std::int64_t{in.h} * in.w;
  PoolHits p{std::vector<int>(in.numel(), 0), std::vector<float>(in.numel(), 0.f)};
  for (std::int64_t o = 0; o < out.numel(); ++o) {
    const std::int64_t i = o / ohw * ihw + argmax[o];
    ++p.hits[i];
    p.mag[i] += std::abs(dy[o]);
  }
  return p;
}

// The first maximum of each window in row-major order (the CUDA kernel's and oneDNN's choice).
inline std::vector<std::int32_t> first_max_argmax(const float* x, Shape in, Shape out,
                                                  MaxPoolSpec spec) {
  std::vector<std::int32_t> argmax(out.numel());
  for (std::int64_t plane = 0; plane < std::int64_t{in.n} * in.c; ++plane)
    for (int oy = 0; oy < out.h; ++oy)
      for (int ox = 0; ox < out.w; ++ox) {
        std::int32_t best = -1;
        for (int ky = 0; ky < spec.kernel; ++ky)
          for (int kx = 0; kx < spec.kernel; ++kx) {
            const int iy = oy * spec.stride - spec.padding + ky;
            const int ix = ox * spec.stride - spec.padding + kx;
            if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) continue;
            const std::int32_t k = iy * in.w + ix;
            if (best < 0 || x[plane * in.h * in.w + k] > x[plane * in.h * in.w + best]) best = k;
          }
        argmax[(plane * out.h + oy) * out.w + ox] = best;
      }
  return argmax;
}

// Counts the inputs where dx differs from oneDNN's beyond the above: bit-identical with one or
// two addends; with more, within 1e-6 of the sum of the addends' magnitudes (a few float
// roundings). *reordered: inputs with 3+ addends that differ at all.
inline int max_pool_dx_mismatches(const std::string& name, const float* dx, const float* dx_cpu,
                                  const PoolHits& p, int* reordered = nullptr) {
  int bad = 0, moved = 0;
  for (std::size_t i = 0; i < p.hits.size(); ++i) {
    const bool exact = std::memcmp(&dx[i], &dx_cpu[i], sizeof(float)) == 0;
    moved += p.hits[i] > 2 && !exact;
    if (p.hits[i] <= 2 ? exact : std::abs(dx[i] - dx_cpu[i]) <= 1e-6f * p.mag[i]) continue;
    if (bad++ == 0)
      MESSAGE(name << " dx[" << i << "] (" << p.hits[i] << " outputs): got " << dx[i] << ", CPU "
                   << dx_cpu[i]);
  }
  if (reordered) *reordered = moved;
  return bad;
}

}  // namespace ft::nn::testing

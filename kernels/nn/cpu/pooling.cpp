// MaxPool2d (floor mode, -inf padding, first maximum wins as in PyTorch; the argmax is kept for
// backward) and global average pooling, with own loops parallel over (n, c) planes.
#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/nn/cpu/layers.hpp"

namespace ft::nn::cpu {
namespace {

class MaxPool final : public Module {
 public:
  explicit MaxPool(const MaxPoolSpec& spec) : spec_(spec) {
    if (spec.kernel <= 0 || spec.stride <= 0 || spec.padding < 0 || 2 * spec.padding > spec.kernel)
      throw std::invalid_argument("max_pool: need kernel > 0, stride > 0, 0 <= padding <= kernel / 2");
  }

  Shape setup(const Shape& in) override {
    if (in == in_) return out_;
    const int oh = (in.h + 2 * spec_.padding - spec_.kernel) / spec_.stride + 1;
    const int ow = (in.w + 2 * spec_.padding - spec_.kernel) / spec_.stride + 1;
    if (in.h + 2 * spec_.padding < spec_.kernel || in.w + 2 * spec_.padding < spec_.kernel)
      throw std::invalid_argument("max_pool: input " + to_string(in) + " smaller than the kernel");
    in_ = in;
    out_ = Shape{in.n, in.c, oh, ow};
    y_.assign(out_.numel(), 0.f);
    argmax_.assign(out_.numel(), 0);
    dx_.assign(in.numel(), 0.f);
    return out_;
  }

  const float* forward(const float* x, bool) override {
    const int planes = in_.n * in_.c, h = in_.h, w = in_.w, oh = out_.h, ow = out_.w;
    const int k = spec_.kernel, s = spec_.stride, p = spec_.padding;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; ++pl) {
      const float* xp = x + std::int64_t{pl} * h * w;
      float* yp = y_.data() + std::int64_t{pl} * oh * ow;
      int* ap = argmax_.data() + std::int64_t{pl} * oh * ow;
      for (int i = 0; i < oh; ++i) {
        const int h0 = i * s - p;
        for (int j = 0; j < ow; ++j) {
          const int w0 = j * s - p;
          float best = -std::numeric_limits<float>::infinity();
          int best_at = std::max(h0, 0) * w + std::max(w0, 0);
          for (int a = std::max(h0, 0); a < std::min(h0 + k, h); ++a)
            for (int b = std::max(w0, 0); b < std::min(w0 + k, w); ++b) {
              const float v = xp[a * w + b];
              if (v > best || v != v) {
                best = v;
                best_at = a * w + b;
              }
            }
          yp[i * ow + j] = best;
          ap[i * ow + j] = best_at;
        }
      }
    }
    return y_.data();
  }

  const float* backward(const float* dy) override {
    const int planes = in_.n * in_.c, hw = in_.h * in_.w, ohw = out_.h * out_.w;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; ++pl) {
      float* dxp = dx_.data() + std::int64_t{pl} * hw;
      const float* dyp = dy + std::int64_t{pl} * ohw;
      const int* ap = argmax_.data() + std::int64_t{pl} * ohw;
      std::fill(dxp, dxp + hw, 0.f);
      for (int o = 0; o < ohw; ++o) dxp[ap[o]] += dyp[o];
    }
    return dx_.data();
  }

 private:
  MaxPoolSpec spec_;
  Shape in_, out_;
  std::vector<float> y_, dx_;
  std::vector<int> argmax_;  // (N, C, OH, OW): flat index within the input plane
};

class GlobalAvgPool final : public Module {
 public:
  Shape setup(const Shape& in) override {
    if (in == in_) return Shape{in.n, in.c, 1, 1};
    in_ = in;
    y_.assign(std::int64_t{in.n} * in.c, 0.f);
    dx_.assign(in.numel(), 0.f);
    return Shape{in.n, in.c, 1, 1};
  }

  const float* forward(const float* x, bool) override {
    const int planes = in_.n * in_.c;
    const std::int64_t hw = std::int64_t{in_.h} * in_.w;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; ++pl) {
      float s = 0;
      for (std::int64_t k = 0; k < hw; ++k) s += x[pl * hw + k];
      y_[pl] = s / float(hw);
    }
    return y_.data();
  }

  const float* backward(const float* dy) override {
    const int planes = in_.n * in_.c;
    const std::int64_t hw = std::int64_t{in_.h} * in_.w;
#pragma omp parallel for schedule(static)
    for (int pl = 0; pl < planes; ++pl) {
      const float g = dy[pl] / float(hw);
      for (std::int64_t k = 0; k < hw; ++k) dx_[pl * hw + k] = g;
    }
    return dx_.data();
  }

 private:
  Shape in_;
  std::vector<float> y_, dx_;
};

}  // namespace

ModulePtr make_max_pool(const MaxPoolSpec& spec) { return std::make_unique<MaxPool>(spec); }
ModulePtr make_global_avg_pool() { return std::make_unique<GlobalAvgPool>(); }

}  // namespace ft::nn::cpu

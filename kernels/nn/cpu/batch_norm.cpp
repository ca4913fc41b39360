// BatchNorm2d (N,C,H,W) and BatchNorm1d (N,C) on the CPU with own loops, one OpenMP task per
// channel. Training normalises with the biased batch variance and updates the running variance
// with the unbiased one (PyTorch); sums run in double so large N*H*W does not lose precision.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/nn/cpu/layers.hpp"

namespace ft::nn::cpu {
namespace {

class BatchNorm final : public Module {
 public:
  explicit BatchNorm(const BatchNormSpec& spec) : spec_(spec) {
    if (spec.channels <= 0) throw std::invalid_argument("batch_norm: channels must be > 0");
    const auto c = static_cast<std::size_t>(spec.channels);
    const std::vector<std::int64_t> shape{spec.channels};
    weight_ = Parameter{"", shape, ParamRole::norm, std::vector<float>(c, 1.f), std::vector<float>(c, 0.f)};
    bias_ = Parameter{"", shape, ParamRole::norm, std::vector<float>(c, 0.f), std::vector<float>(c, 0.f)};
    running_mean_ = Buffer{"", shape, std::vector<float>(c, 0.f)};
    running_var_ = Buffer{"", shape, std::vector<float>(c, 1.f)};
    num_batches_ = Buffer{"", {}, std::vector<float>(1, 0.f)};
  }

  Shape setup(const Shape& in) override {
    if (in.c != spec_.channels)
      throw std::invalid_argument("batch_norm: input " + to_string(in) + " has " + std::to_string(in.c) +
                                  " channels, expected " + std::to_string(spec_.channels));
    if (in == in_) return in_;
    in_ = in;
    y_.assign(in.numel(), 0.f);
    dx_.assign(in.numel(), 0.f);
    mean_.assign(in.c, 0.f);
    invstd_.assign(in.c, 0.f);
    return in_;
  }

  const float* forward(const float* x, bool training) override {
    x_ = x;
    training_ = training;
    const int n = in_.n, c = in_.c;
    const std::int64_t hw = std::int64_t{in_.h} * in_.w, m = n * hw;
    if (training && m <= 1)
      throw std::invalid_argument("batch_norm: training needs more than one value per channel, got input " +
                                  to_string(in_));
    const float mom = spec_.momentum;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ++ch) {
      float mean, invstd;
      if (training) {
        double s = 0, ss = 0;
        for (int i = 0; i < n; ++i) {
          const float* p = x + (std::int64_t{i} * c + ch) * hw;
          for (std::int64_t k = 0; k < hw; ++k) s += p[k];
        }
        const double mu = s / double(m);
        for (int i = 0; i < n; ++i) {
          const float* p = x + (std::int64_t{i} * c + ch) * hw;
          for (std::int64_t k = 0; k < hw; ++k) {
            const double d = p[k] - mu;
            ss += d * d;
          }
        }
        const double var = ss / double(m);
        mean = float(mu);
        invstd = float(1.0 / std::sqrt(var + spec_.eps));
        running_mean_.value[ch] = (1 - mom) * running_mean_.value[ch] + mom * float(mu);
        running_var_.value[ch] = (1 - mom) * running_var_.value[ch] + mom * float(ss / double(m - 1));
      } else {
        mean = running_mean_.value[ch];
        invstd = 1.f / std::sqrt(running_var_.value[ch] + spec_.eps);
      }
      mean_[ch] = mean;
      invstd_[ch] = invstd;
      const float scale = weight_.value[ch] * invstd, shift = bias_.value[ch] - mean * scale;
      for (int i = 0; i < n; ++i) {
        const std::int64_t off = (std::int64_t{i} * c + ch) * hw;
        for (std::int64_t k = 0; k < hw; ++k) y_[off + k] = x[off + k] * scale + shift;
      }
    }
    if (training) num_batches_.value[0] += 1.f;
    return y_.data();
  }

  const float* backward(const float* dy) override {
    const int n = in_.n, c = in_.c;
    const std::int64_t hw = std::int64_t{in_.h} * in_.w, m = n * hw;
    const float* x = x_;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < c; ++ch) {
      const float mean = mean_[ch], invstd = invstd_[ch], gamma = weight_.value[ch];
      double sdy = 0, sdyx = 0;  // sum(dy), sum(dy * xhat)
      for (int i = 0; i < n; ++i) {
        const std::int64_t off = (std::int64_t{i} * c + ch) * hw;
        for (std::int64_t k = 0; k < hw; ++k) {
          sdy += dy[off + k];
          sdyx += double(dy[off + k]) * ((x[off + k] - mean) * invstd);
        }
      }
      weight_.grad[ch] += float(sdyx);
      bias_.grad[ch] += float(sdy);
      if (training_) {
        // dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))
        const float a = gamma * invstd, mdy = float(sdy / double(m)), mdyx = float(sdyx / double(m));
        for (int i = 0; i < n; ++i) {
          const std::int64_t off = (std::int64_t{i} * c + ch) * hw;
          for (std::int64_t k = 0; k < hw; ++k)
            dx_[off + k] = a * (dy[off + k] - mdy - (x[off + k] - mean) * invstd * mdyx);
        }
      } else {
        const float a = gamma * invstd;
        for (int i = 0; i < n; ++i) {
          const std::int64_t off = (std::int64_t{i} * c + ch) * hw;
          for (std::int64_t k = 0; k < hw; ++k) dx_[off + k] = a * dy[off + k];
        }
      }
    }
    return dx_.data();
  }

  void collect(const std::string& prefix, std::vector<Parameter*>& params, std::vector<Buffer*>& buffers) override {
    weight_.name = prefix + "weight";
    bias_.name = prefix + "bias";
    running_mean_.name = prefix + "running_mean";
    running_var_.name = prefix + "running_var";
    num_batches_.name = prefix + "num_batches_tracked";
    params.push_back(&weight_);
    params.push_back(&bias_);
    buffers.push_back(&running_mean_);
    buffers.push_back(&running_var_);
    buffers.push_back(&num_batches_);
  }

 private:
  BatchNormSpec spec_;
  Parameter weight_, bias_;
  Buffer running_mean_, running_var_, num_batches_;
  Shape in_;
  bool training_ = false;
  const float* x_ = nullptr;
  std::vector<float> y_, dx_, mean_, invstd_;  // mean_/invstd_: what the last forward used, (C)
};

}  // namespace

ModulePtr make_batch_norm(const BatchNormSpec& spec) { return std::make_unique<BatchNorm>(spec); }

}  // namespace ft::nn::cpu

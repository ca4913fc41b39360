// What the bf16 tests (CPU layers, bf16 activations, GPU layers) share: bf16's unit roundoff, the
// CPU's bf16 check, the relative L2 error and one forward + backward pass of a whole model whose
// logits and parameter gradients they compare with f32's.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "kernels/nn/cpu/bf16.hpp"
#include "kernels/nn/cpu/dnnl_context.hpp"
#include "kernels/nn/cpu/layers.hpp"
#include "kernels/nn/model.hpp"
#include "tests/kernels/nn/test_inputs.hpp"

namespace ft::nn::bf16_check {

inline constexpr double kU = 1.0 / 256;  // bf16's unit roundoff bound (8 significant bits)

inline bool cpu_has_bf16() {
  try {
    cpu::require_bf16(dnnl::get_effective_cpu_isa());
    return true;
  } catch (const std::runtime_error&) {
    return false;
  }
}

// Relative L2 error ||a - b|| / ||b||.
inline double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// v as the storage of a tensor of type t (bf16: two values a float, rounded), and back.
inline std::vector<float> to_storage(const std::vector<float>& v, DataType t) {
  if (t == DataType::f32) return v;
  std::vector<float> s((v.size() + 1) / 2);
  for (std::size_t i = 0; i < v.size(); ++i)
    cpu::as_bf16(s.data())[i].bits = cpu::f32_to_bf16(v[i]);
  return s;
}
inline std::vector<float> from_storage(const float* p, std::size_t n, DataType t) {
  if (t == DataType::f32) return {p, p + n};
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = cpu::bf16_to_f32(cpu::as_bf16(p)[i].bits);
  return v;
}

// v with each value scaled by (1 + u r), r uniform in [-1, 1) from seed: what rounding it to bf16
// may do. A model run on such inputs in f32 shows the model's own sensitivity to that rounding.
inline std::vector<float> perturbed_by_u(std::vector<float> v, std::uint64_t seed) {
  const auto r = testing::random_vector(v.size(), seed);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] *= float(1 + kU * r[i]);
  return v;
}

// Per parameter, the relative L2 error against f32 of bf16's gradient and of the perturbed f32
// run's (perturbed_by_u): a test bounds the first by a multiple of the second.
struct GradError {
  double bf16, perturbed;
};
inline std::vector<GradError> grad_errors(const std::vector<std::vector<float>>& bf16,
                                          const std::vector<std::vector<float>>& f32,
                                          const std::vector<std::vector<float>>& perturbed) {
  std::vector<GradError> e;
  for (std::size_t k = 0; k < f32.size(); ++k)
    e.push_back({rel_error(bf16.at(k), f32[k]), rel_error(perturbed.at(k), f32[k])});
  return e;
}

struct ModelPass {
  std::vector<float> logits;
  std::vector<std::vector<float>> grads;
};

// A parameter's gradient on the host (the GPU test reads device_grad back).
using GradOf = std::function<std::vector<float>(const Model&, const Parameter&)>;

inline ModelPass run_model(
    const ModelSpec& spec, const LayerFactory& layers, const std::vector<float>& x,
    const std::vector<float>& dlogits, int n,
    const GradOf& grad_of = [](const Model&, const Parameter& q) { return q.grad; }) {
  auto m = make_model(spec, layers);
  ModelPass p;
  p.logits.resize(dlogits.size());
  m->zero_grad();
  m->forward(x.data(), n, true, p.logits.data());
  m->backward(dlogits.data());
  for (Parameter* q : m->parameters()) p.grads.push_back(grad_of(*m, *q));
  return p;
}

}  // namespace ft::nn::bf16_check

// Sequential and Residual: shape propagation at setup, chaining at forward, reverse at backward.
#include "kernels/nn/blocks.hpp"

#include <stdexcept>

namespace ft::nn {

ModulePtr LayerFactory::convert(Layout layout, DataType dtype) const {
  if (dtype != DataType::f32)
    throw std::invalid_argument("convert: these layers hold f32 tensors only");
  return to_layout(layout);
}

Sequential& Sequential::add(std::string name, ModulePtr child) {
  children_.emplace_back(std::move(name), std::move(child));
  return *this;
}

Shape Sequential::setup(const Shape& in) {
  Shape s = in;
  for (auto& [name, child] : children_) s = child->setup(s);
  return s;
}

const float* Sequential::forward(const float* x, bool training) {
  for (auto& [name, child] : children_) x = child->forward(x, training);
  return x;
}

const float* Sequential::backward(const float* dy) {
  for (std::size_t i = children_.size(); i-- > 0;) {
    dy = children_[i].second->backward(dy);
    if (grads_ready_ && i < param_ranges_.size() &&
        param_ranges_[i].first < param_ranges_[i].second)
      (*grads_ready_)(param_ranges_[i].first, param_ranges_[i].second);
  }
  return dy;
}

void Sequential::collect(const std::string& prefix, std::vector<Parameter*>& params,
                         std::vector<Buffer*>& buffers) {
  param_ranges_.clear();
  for (auto& [name, child] : children_) {
    const std::size_t first = params.size();
    child->collect(name.empty() ? prefix : prefix + name + ".", params, buffers);
    param_ranges_.emplace_back(first, params.size());
  }
}

void Sequential::set_grads_ready(const GradsReady* hook) {
  grads_ready_ = hook;
  for (auto& [name, child] : children_) child->set_grads_ready(hook);
}

void Residual::set_grads_ready(const GradsReady* hook) {
  main_.set_grads_ready(hook);
  skip_.set_grads_ready(hook);
}

void Sequential::set_dropout_key(std::uint64_t seed, std::uint64_t step) {
  for (auto& [name, child] : children_) child->set_dropout_key(seed, step);
}

Residual::Residual(const LayerFactory& layers, Sequential main, Sequential skip, bool relu,
                   std::string main_prefix, std::string skip_prefix)
    : layers_(layers),
      main_(std::move(main)),
      skip_(std::move(skip)),
      add_(layers.residual_add(relu)),
      main_prefix_(std::move(main_prefix)),
      skip_prefix_(std::move(skip_prefix)) {}

Shape Residual::setup(const Shape& in) {
  const Shape a = main_.setup(in);
  Shape b = skip_.empty() ? in : skip_.setup(in);
  if ((a.layout != b.layout || a.dtype != b.dtype) && a.n == b.n && a.c == b.c && a.h == b.h &&
      a.w == b.w) {
    // The branches chose different layouts or types: convert the skip branch's output to main's.
    skip_.add("", layers_.convert(a.layout, a.dtype));
    b = skip_.setup(in);
  }
  if (!(a == b))
    throw std::invalid_argument("residual block: main branch gives " + to_string(a) +
                                " but skip gives " + to_string(b) + " for input " + to_string(in));
  add_->setup(a, in);
  return a;
}

const float* Residual::forward(const float* x, bool training) {
  const float* a = main_.forward(x, training);
  const float* b = skip_.empty() ? x : skip_.forward(x, training);
  return add_->forward(a, b);
}

const float* Residual::backward(const float* dy) {
  const float* g = add_->backward(dy);
  const float* d_main = main_.backward(g);
  const float* d_skip = skip_.empty() ? g : skip_.backward(g);
  return input_grad_ ? add_->sum_input_grads(d_main, d_skip) : nullptr;
}

void Residual::skip_input_grad() {
  input_grad_ = false;
  main_.skip_input_grad();
  skip_.skip_input_grad();
}

void Sequential::skip_input_grad() {
  if (!children_.empty()) children_.front().second->skip_input_grad();
}

void Residual::collect(const std::string& prefix, std::vector<Parameter*>& params,
                       std::vector<Buffer*>& buffers) {
  main_.collect(prefix + main_prefix_, params, buffers);
  skip_.collect(prefix + skip_prefix_, params, buffers);
}

void Residual::set_dropout_key(std::uint64_t seed, std::uint64_t step) {
  main_.set_dropout_key(seed, step);
  skip_.set_dropout_key(seed, step);
}

}  // namespace ft::nn

// Device-independent composites built from a LayerFactory's layers: a named sequence and a
// residual block y = relu(main(x) + skip(x)). Names follow torchvision/PyTorch state_dict keys.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kernels/nn/module.hpp"

namespace ft::nn {

// Children run in order. A child's parameters are named prefix + child name + "." + ...; a child
// with an empty name adds no level (its parameters sit directly under the sequence's prefix).
class Sequential final : public Module {
 public:
  Sequential& add(std::string name, ModulePtr child);
  bool empty() const { return children_.empty(); }

  Shape setup(const Shape& in) override;
  const float* forward(const float* x, bool training) override;
  const float* backward(const float* dy) override;
  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>& buffers) override;
  void set_dropout_key(std::uint64_t seed, std::uint64_t step) override;
  void skip_input_grad() override;
  void set_grads_ready(const GradsReady* hook) override;

 private:
  std::vector<std::pair<std::string, ModulePtr>> children_;
  // Parameter index range of each child as collect() found it (children added later, such as
  // a layout conversion, have none).
  std::vector<std::pair<std::size_t, std::size_t>> param_ranges_;
  const GradsReady* grads_ready_ = nullptr;
};

// y = act(main(x) + skip(x)), skip = identity when empty. main's parameters are named under
// prefix + main_prefix, skip's under prefix + skip_prefix (each "" or ending in ".").
class Residual final : public Module {
 public:
  Residual(const LayerFactory& layers, Sequential main, Sequential skip, bool relu,
           std::string main_prefix, std::string skip_prefix);

  Shape setup(const Shape& in) override;
  const float* forward(const float* x, bool training) override;
  const float* backward(const float* dy) override;
  void collect(const std::string& prefix, std::vector<Parameter*>& params,
               std::vector<Buffer*>& buffers) override;
  void set_dropout_key(std::uint64_t seed, std::uint64_t step) override;
  // Only when the block is the network's first layer (its input is the data).
  void skip_input_grad() override;
  void set_grads_ready(const GradsReady* hook) override;

 private:
  const LayerFactory& layers_;
  bool input_grad_ = true;
  Sequential main_, skip_;
  std::unique_ptr<ResidualAdd> add_;
  std::string main_prefix_, skip_prefix_;
};

}  // namespace ft::nn

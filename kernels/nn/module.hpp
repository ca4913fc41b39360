// The layer interface every network piece sits behind (CPU and CUDA layers): a two-phase module.
// setup(shape) sizes the output and gradient buffers and builds primitives for one input shape;
// forward/backward then only compute. Tensors are f32 NCHW at the model's edges; inside a model
// the CPU layers may pass channel-blocked layouts (nChw8c / nChw16c) and bf16 storage between
// them (see Shape::dtype). 2-D: h = w = 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/nn/parameter.hpp"

namespace ft::nn {

// nChw16c: (N, C/16, H, W, 16) with C padded to a multiple of 16 (the padding stays zero).
enum class Layout : std::uint8_t { nchw, nChw8c, nChw16c };

// The element type of a tensor passed between layers. Negotiated in setup() like the layout: a
// layer reads the type its input shape names and states its output's in the shape it returns;
// a gradient has the type of the tensor it is the gradient of. The Module interface keeps
// `const float*`: for bf16 the pointer holds bf16 storage (2 bytes an element; see
// kernels/nn/cpu/bf16.hpp), so the CUDA layers, which only ever see f32, keep their signatures.
// Only the CPU layers at Precision::bf16 produce bf16 (convolutions; the layers after them keep
// it); weights, gradients of parameters, statistics and a model's input and logits stay f32.
enum class DataType : std::uint8_t { f32, bf16 };

struct Shape {
  int n = 0, c = 0, h = 1, w = 1;
  Layout layout = Layout::nchw;
  DataType dtype = DataType::f32;
  std::int64_t numel() const { return std::int64_t{n} * c * h * w; }
  std::int64_t per_sample() const { return std::int64_t{c} * h * w; }
  int channel_block() const {
    return layout == Layout::nChw16c ? 16 : layout == Layout::nChw8c ? 8 : 1;
  }
  int padded_c() const { return (c + channel_block() - 1) / channel_block() * channel_block(); }
  // Elements the tensor occupies (numel plus channel padding).
  std::int64_t storage() const { return std::int64_t{n} * padded_c() * h * w; }
  // The floats a buffer needs to hold storage() elements of dtype.
  std::int64_t buffer_floats() const {
    return dtype == DataType::bf16 ? (storage() + 1) / 2 : storage();
  }
  bool operator==(const Shape&) const = default;
};

std::string to_string(const Shape& s);

// Told during backward that the gradients of parameters [first, last) are final for this pass
// (indices into the order collect() gives, i.e. Model::parameters()): the data-parallel gradient
// reduction starts a bucket's all-reduce as soon as every parameter in it is final.
using GradsReady = std::function<void(std::size_t first, std::size_t last)>;

class Module {
 public:
  virtual ~Module() = default;
  // Derives the output shape for input shape `in`, (re)sizes buffers and primitives. Called once
  // per distinct input shape; calling it again with the same shape is cheap and allowed.
  virtual Shape setup(const Shape& in) = 0;
  // Computes y = f(x) into a module-owned buffer and returns it. `x` must stay valid and unchanged
  // until backward() returns (the module keeps the pointer, as autograd keeps saved tensors).
  virtual const float* forward(const float* x, bool training) = 0;
  // Given dL/dy for the last forward (training mode), ACCUMULATES dL/dparam into each
  // Parameter::grad and returns dL/dx in a module-owned buffer.
  virtual const float* backward(const float* dy) = 0;
  // Appends parameters and buffers in torchvision's state_dict order, names prefixed.
  virtual void collect(const std::string& prefix, std::vector<Parameter*>& params,
                       std::vector<Buffer*>& buffers) {}
  // Keys every dropout draw of the next forward: philox(seed, step, sample, dropout index).
  virtual void set_dropout_key(std::uint64_t seed, std::uint64_t step) {}
  // The input needs no gradient (the network's first layer): backward may skip dL/dx and
  // return nullptr. Call before setup.
  virtual void skip_input_grad() {}
  // Composites report each child's parameter range to `hook` once the child's backward is done
  // (null: none). Leaves have nothing to report: their parent does it.
  virtual void set_grads_ready(const GradsReady* hook) {}
};

using ModulePtr = std::unique_ptr<Module>;

// Hyper-parameters of each layer kind, independent of the implementation.
struct Conv2dSpec {
  int in_channels = 0, out_channels = 0;
  int kernel = 3, stride = 1;
  int padding = 0;            // symmetric padding, ignored when same_padding
  bool same_padding = false;  // PyTorch padding="same" (stride 1): extra pad goes right/bottom
  int dilation = 1, groups = 1;
  bool bias = true;
};

inline Conv2dSpec conv2d_spec(int in, int out, int kernel, int stride, int padding, bool bias,
                              int groups) {
  Conv2dSpec s;
  s.in_channels = in;
  s.out_channels = out;
  s.kernel = kernel;
  s.stride = stride;
  s.padding = padding;
  s.bias = bias;
  s.groups = groups;
  return s;
}

struct BatchNormSpec {
  int channels = 0;
  float eps = 1e-5f;
  float momentum = 0.1f;
  bool relu = false;  // fused ReLU after the normalisation (same result as a separate ReLU)
};

struct LinearSpec {
  int in_features = 0, out_features = 0;
  bool bias = true;
};

struct MaxPoolSpec {
  int kernel = 2, stride = 2, padding = 0;
};

// y = a + b (optionally followed by ReLU); a, b and y share one layout: the join of a residual
// block. Not a Module since it has two inputs; its backward gives dL/d(a+b), the same for both
// branches.
class ResidualAdd {
 public:
  virtual ~ResidualAdd() = default;
  // out: the shape of a, b and y; in: the shape of the block's input (for sum_input_grads).
  virtual void setup(const Shape& out, const Shape& in) = 0;
  virtual const float* forward(const float* a, const float* b) = 0;
  virtual const float* backward(const float* dy) = 0;
  // d1 + d2 (both of shape `in`): the block input's gradient from its two branches.
  virtual const float* sum_input_grads(const float* d1, const float* d2) = 0;
};

// Builds the primitive layers for one device. Composite blocks (residual blocks, sequences) are
// device-independent and built from these.
class LayerFactory {
 public:
  virtual ~LayerFactory() = default;
  // True when the layers compute on the GPU: pointers passed to and returned by their forward
  // and backward are device pointers, and parameters live in device memory.
  virtual bool on_device() const { return false; }
  virtual ModulePtr conv2d(const Conv2dSpec& spec) const = 0;
  virtual ModulePtr batch_norm(
      const BatchNormSpec& spec) const = 0;  // 2d on (N,C,H,W), 1d on (N,C)
  virtual ModulePtr linear(const LinearSpec& spec) const = 0;
  virtual ModulePtr relu() const = 0;
  virtual ModulePtr max_pool(const MaxPoolSpec& spec) const = 0;
  virtual ModulePtr global_avg_pool() const = 0;            // (N,C,H,W) -> (N,C,1,1)
  virtual ModulePtr flatten() const = 0;                    // (N,C,H,W) -> (N,C*H*W,1,1)
  virtual ModulePtr dropout(float p, int index) const = 0;  // index: which dropout in the model
  virtual std::unique_ptr<ResidualAdd> residual_add(bool relu) const = 0;
  // Converts to `layout` (forward) and back (backward); the identity when already there.
  virtual ModulePtr to_layout(Layout layout) const = 0;
  // The same, also converting the element type to `dtype`. The default (for factories whose
  // layers only use f32) is to_layout and refuses any other dtype.
  virtual ModulePtr convert(Layout layout, DataType dtype) const;
};

// The arithmetic of convolutions and matmuls. bf16: their inputs (activations, weights, incoming
// gradients) are rounded to bfloat16 and products accumulate in f32. Convolutions output bf16,
// and batch norm, ReLU, max pool and the residual join read and write bf16 after them (computing
// in f32 inside), so a conv -> BN(+ReLU) -> conv chain converts nothing; global average pooling
// and Linear output f32. Master weights, weight gradients, batch-norm parameters and statistics,
// loss and optimizer stay f32.
enum class Precision : std::uint8_t { f32, bf16 };

// The oneDNN / OpenMP implementation. `blocked`: convolutions emit the layout oneDNN prefers
// (nChw16c on AVX-512) and the following layers keep it, saving a reorder per tensor per pass;
// otherwise every layer's output is NCHW (as the layer tests want). Precision::bf16 throws
// std::runtime_error naming oneDNN's ISA on a CPU without bf16 instructions.
const LayerFactory& cpu_layers(bool blocked = false, Precision precision = Precision::f32);

// The CUDA implementation (kernels/nn/cuda): cuDNN convolutions and batch norm, cuBLAS Linear,
// own kernels for the rest; NCHW f32 between layers. Precision::bf16: convolutions and Linear
// convert at their own edges to bf16 for tensor cores. Throws std::runtime_error without CUDA or
// a GPU.
const LayerFactory& cuda_layers(Precision precision = Precision::f32);

}  // namespace ft::nn

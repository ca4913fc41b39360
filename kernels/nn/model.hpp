// A whole network behind one interface: make_model(spec) builds mini_resnet, resnet18/34/50,
// resnext50_32x4d or resnet_small from a LayerFactory (the CPU one by default), initialised as
// PyTorch/torchvision do but from a Philox stream keyed by spec.init_seed. By default the CPU
// layers keep oneDNN's blocked layouts between layers (NCHW only at the input and logits).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/nn/blocks.hpp"
#include "kernels/nn/module.hpp"
#include "kernels/nn/parameter.hpp"

namespace ft::nn {

struct ModelSpec {
  std::string kind = "resnet_small";  // mini_resnet | resnet18 | resnet34 | resnet50 |
                                      // resnext50_32x4d | resnet_small
  int num_classes = 10;
  int in_channels = 3;
  int height = 32, width = 32;  // input size (mini_resnet's flatten size follows it)
  std::uint64_t init_seed = 0;
  // mini_resnet: `blocks` blocks of width base_width * 2^i; dropout before each head Linear.
  int blocks = 6;
  int base_width = 32;
  float dropout = 0.f;
  // resnet18/34/50, resnext50_32x4d, resnet_small: zero the last BN weight of every residual
  // branch.
  bool zero_init_residual = false;
  // resnet_small: stem conv3x3 -> widths[0], then stage i of stage_blocks[i] BasicBlocks of
  // widths[i].
  std::vector<int> widths{16, 32, 64};
  std::vector<int> stage_blocks{1, 1, 1};
};

class Model {
 public:
  // on_device: the layers are a GPU LayerFactory's (then forward uploads x, downloads the logits,
  // and parameters live on the device; see to_host / to_device).
  Model(ModelSpec spec, Sequential net, bool on_device = false);

  // x: (n, C, H, W) f32 NCHW with C, H, W as in the spec. logits: (n, classes). The first call
  // for a batch shape runs the setup phase (buffers, primitives); later calls with that shape
  // only compute (a smaller last batch re-runs setup, and so does the next full batch).
  // x must stay valid until backward() returns.
  // x and logits are host memory on either device.
  void forward(const float* x, int n, bool training, float* logits);
  // The same at another input size h x w (the torchvision resnets and resnet_small pool
  // globally, so they take any size; mini_resnet's head fixes its size).
  void forward(const float* x, int n, int h, int w, bool training, float* logits);
  // A GPU model's forward from input already in device memory (n, C, H, W); logits to the host.
  // x must stay valid until backward() returns; backward() returns only once the device is done
  // reading it, so the caller may then overwrite it from any stream.
  void forward_device(const float* x, int n, int h, int w, bool training, float* logits);
  // dlogits: (n, classes) of the last forward (training). ACCUMULATES into Parameter::grad, as
  // PyTorch's backward does: call zero_grad() first to get this step's gradients alone.
  void backward(const float* dlogits);  // dlogits: host memory
  void zero_grad();
  // Called during every later backward as parameters' gradients become final (see GradsReady);
  // an empty function removes the hook.
  void set_grads_ready(GradsReady hook);
  bool on_device() const { return on_device_; }
  // GPU models: copy parameter values and buffers (running statistics) device -> host mirrors, or
  // host -> device (after init, or after loading a checkpoint into the mirrors). No-ops on the CPU.
  void to_host();
  void to_device();
  // OpenMP threads for this model's layers (oneDNN runs on OpenMP). Applied on every forward and
  // backward from the calling thread, since an OpenMP thread count belongs to the thread that
  // sets it (a TBB worker running train_step must set its own). 0: leave OpenMP's setting.
  void set_num_threads(int threads) { threads_ = threads; }

  std::vector<Parameter*> parameters() { return params_; }  // torchvision's state_dict order
  std::vector<Buffer*> buffers() {
    return buffers_;
  }  // running_mean, running_var, num_batches_tracked
  Parameter* find_parameter(const std::string& name);
  std::int64_t num_parameters() const;
  // Keys the next forward's dropout masks (philox(seed, step, sample, dropout index)).
  void set_dropout_seed(std::uint64_t seed, std::uint64_t step) {
    net_.set_dropout_key(seed, step);
  }
  const ModelSpec& spec() const { return spec_; }

 private:
  void prepare(const Shape& in);  // setup for a new input shape
  ModelSpec spec_;
  Sequential net_;
  Shape in_;
  int threads_ = 0;
  bool on_device_ = false;
  bool device_input_ = false;  // the last forward read the caller's device memory
  struct DeviceIo;             // device copies of the input and dlogits (GPU models)
  std::shared_ptr<DeviceIo> io_;
  std::vector<Parameter*> params_;
  std::vector<Buffer*> buffers_;
  std::unique_ptr<GradsReady> grads_ready_;  // stable address: the modules hold a pointer
};

// A GPU factory (cuda_layers()) gives a model whose parameters are initialised on the host as on
// the CPU, then uploaded: CPU and GPU models of one spec start from the same weights.
std::unique_ptr<Model> make_model(const ModelSpec& spec,
                                  const LayerFactory& layers = cpu_layers(true));

// PyTorch's default init for every Conv2d/Linear (weights and biases U(-1/sqrt(fan_in), +)),
// or torchvision ResNet's (conv weights N(0, 2/fan_out), Linear as the default) when
// torchvision_convs; batch-norm weight 1, bias 0. Draws come from philox(seed, 0, param index).
void init_parameters(const std::vector<Parameter*>& params, std::uint64_t seed,
                     bool torchvision_convs);

}  // namespace ft::nn

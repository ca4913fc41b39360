// What the CUDA layer files share (nvcc only): the cuDNN descriptor and device-parameter helpers,
// the algorithm choice, and the constructors cuda_layers() hands out (one file per op family, as
// kernels/nn/cpu/). Every tensor is NCHW float in device memory; parameters live on the device
// (Parameter::device_value / device_grad) with the host vectors as mirrors (Model::to_host /
// to_device). Backward accumulates parameter gradients (beta = 1), as the Module interface
// requires.
#pragma once

#include <stdexcept>
#include <string>

#include "kernels/nn/cuda/runtime.cuh"
#include "kernels/nn/layer_params.hpp"
#include "kernels/nn/module.hpp"

namespace ft::nn::cuda {

inline const float kOne = 1.0f, kZero = 0.0f;

// A Parameter's device storage, attached to it.
struct DeviceParam {
  DeviceArray value, grad;
  void attach(Parameter& p) {
    value.resize(p.value.size());
    grad.resize(p.value.size());
    p.device_value = value.data();
    p.device_grad = grad.data();
  }
};

class TensorDesc {
 public:
  TensorDesc() { check(cudnnCreateTensorDescriptor(&d_), "cudnnCreateTensorDescriptor"); }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(d_); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  void set(int n, int c, int h, int w) {
    check(cudnnSetTensor4dDescriptor(d_, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w),
          "cudnnSetTensor4dDescriptor");
  }
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

inline void require_nchw(const Shape& in, const char* layer) {
  if (in.layout != Layout::nchw)
    throw std::invalid_argument(std::string(layer) + " (cuda): needs NCHW, got " + to_string(in));
}

ModulePtr make_conv2d(const Conv2dSpec& spec);
ModulePtr make_batch_norm(const BatchNormSpec& spec);
ModulePtr make_linear(const LinearSpec& spec);

}  // namespace ft::nn::cuda

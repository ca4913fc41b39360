// What the CUDA layer files share (nvcc only): the cuDNN descriptor and device-parameter helpers,
// the bf16 conversions, and the constructors cuda_layers() hands out (one file per op family, as
// kernels/nn/cpu/). Every tensor between layers is NCHW float in device memory (bf16 layers
// convert at their own edges); parameters live on the device (Parameter::device_value /
// device_grad) with the host vectors as mirrors (Model::to_host / to_device). Backward accumulates
// parameter gradients, as the Module interface requires.
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
  // A packed (N, C, H, W) tensor; bf16 convolutions use NHWC bfloat16.
  void set(int n, int c, int h, int w, cudnnDataType_t type = CUDNN_DATA_FLOAT,
           cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW) {
    check(cudnnSetTensor4dDescriptor(d_, format, type, n, c, h, w), "cudnnSetTensor4dDescriptor");
  }
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

inline void require_nchw(const Shape& in, const char* layer) {
  if (in.layout != Layout::nchw)
    throw std::invalid_argument(std::string(layer) + " (cuda): needs NCHW, got " + to_string(in));
}

// ---- bf16 conversions (bf16.cu; per element bf16_math.hpp), on the library stream ----------
// dst (batches, hw, channels) bf16 = src (batches, channels, hw) f32 rounded: NCHW activations to
// NHWC (batches = N, hw = H * W), KCRS filters to KRSC (batches = K, channels = C / groups).
void to_bf16_nhwc(std::uint16_t* dst, const float* src, std::int64_t batches, int channels, int hw);
// The reverse, widened exactly: dst = (or, accumulate, +=) src.
void from_bf16_nhwc(float* dst, const std::uint16_t* src, std::int64_t batches, int channels,
                    int hw, bool accumulate);
// dst = src rounded, element by element, and the reverse (widened; dst += src when accumulate).
void to_bf16(std::uint16_t* dst, const float* src, std::int64_t n);
void from_bf16(float* dst, const std::uint16_t* src, std::int64_t n, bool accumulate);
// Runtime::bf16_scratch[slot] with room for n values.
std::uint16_t* bf16_scratch(int slot, std::int64_t n);

ModulePtr make_conv2d(const Conv2dSpec& spec, Precision precision);
ModulePtr make_batch_norm(const BatchNormSpec& spec);
ModulePtr make_linear(const LinearSpec& spec, Precision precision);

}  // namespace ft::nn::cuda

// Device memory and the few device operations the model and the optimizer need, behind plain
// host declarations: this header compiles without CUDA. In a build without CUDA (or on a machine
// without a GPU) every function here throws std::runtime_error saying why; nothing else in the
// project calls them unless [run] device = "cuda" was asked for and resolved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/nn/parameter.hpp"

namespace ft::nn::cuda {

// True when CUDA is compiled in and a device is visible; otherwise *why says why.
bool available(std::string* why = nullptr);

// The GPU this process uses (a data-parallel run's local rank): call before anything else here
// touches the device; later calls are ignored. Device 0 when never called.
void select_device(int ordinal);
// The library's one stream (a cudaStream_t), for collectives ordered with the layers' work.
void* stream_handle();

// A float array in device memory. Grows (contents lost) and never shrinks; moves, not copies.
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t n) { resize(n); }
  ~DeviceArray();
  DeviceArray(DeviceArray&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceArray& operator=(DeviceArray&& o) noexcept;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  void resize(std::size_t n);  // capacity in floats; new storage is zeroed
  float* data() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  float* p_ = nullptr;
  std::size_t n_ = 0;
};

// Copies on the library's stream. upload() goes through a reused pinned staging buffer (host
// copies into one half overlap the DMA out of the other); it returns once `host_src` has been
// read, so the caller may reuse it. download() returns once the data is on the host, so it also
// waits for every kernel queued before it.
void upload(float* device_dst, const float* host_src, std::size_t n);
void download(float* host_dst, const float* device_src, std::size_t n);
void zero(float* device_dst, std::size_t n);
void synchronize();

// The optimizer's device work: the same per-element update as optim::sgd_update (sgd_math.hpp);
// the squared 2-norm of all parameters' gradients (one multi-tensor launch, accumulated in
// double, deterministic; one wait for the result) and their in-place scale (clipping, one
// launch). Both read a device table of the gradients, built on the first call and rebuilt only
// when the parameters' device_grad pointers or sizes change.
void sgd_update(float* value, const float* grad, float* momentum_buffer, std::int64_t n, float lr,
                float momentum, float dampening, float weight_decay, bool nesterov, bool first);
double grad_squared_norm(const std::vector<Parameter*>& params);   // over every device_grad
void scale_grads(const std::vector<Parameter*>& params, float s);  // every device_grad *= s

// The convolution algorithms run in this process that cuDNN does not promise to be deterministic
// (chosen only when no deterministic one is listed or works), one line per layer shape and pass,
// e.g. "conv2d 3->64 k3 s1 g1 on (128, 3, 32, 32), backward-filter algorithm 0". The run writes
// them to summary.json; empty without CUDA.
std::vector<std::string> nondeterministic_algorithms();

// Convolutions may use TF32 tensor cores (as PyTorch allows by default): much faster on Ampere
// and later, ~1e-3 relative error. Off by default, so the GPU path stays within float rounding of
// the CPU path. Read when a layer is set up for a new shape.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace ft::nn::cuda

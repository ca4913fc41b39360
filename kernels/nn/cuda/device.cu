// Device memory, copies and the optimizer's kernels (see device.hpp); the runtime (runtime.cuh).
#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/runtime.cuh"

namespace ft::nn::cuda {

bool available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess && n > 0) return true;
  if (why)
    *why = e != cudaSuccess ? std::string("no usable CUDA device (") + cudaGetErrorString(e) + ")"
                            : std::string("no CUDA device is present");
  return false;
}

Runtime& runtime() {
  static Runtime* rt = [] {
    std::string why;
    if (!available(&why)) throw std::runtime_error(why);
    auto* r = new Runtime;  // lives for the process: handles must outlive every layer
    check(cudaSetDevice(0), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudnnCreate(&r->dnn), "cudnnCreate");
    check(cudnnSetStream(r->dnn, r->stream), "cudnnSetStream");
    check(cublasCreate(&r->blas), "cublasCreate");
    check(cublasSetStream(r->blas, r->stream), "cublasSetStream");
    // FP32 GEMMs without TF32, so results stay within float rounding of the CPU path.
    check(cublasSetMathMode(r->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    return r;
  }();
  return *rt;
}

void* workspace(std::size_t bytes) {
  Runtime& r = runtime();
  const std::size_t floats = (bytes + sizeof(float) - 1) / sizeof(float);
  if (floats > r.workspace.size()) {
    check(cudaStreamSynchronize(r.stream), "workspace resize");  // the old buffer may be in use
    r.workspace.resize(floats);
  }
  return r.workspace.data();
}

DeviceArray::~DeviceArray() {
  if (p_) cudaFree(p_);
}

DeviceArray& DeviceArray::operator=(DeviceArray&& o) noexcept {
  if (this != &o) {
    if (p_) cudaFree(p_);
    p_ = o.p_;
    n_ = o.n_;
    o.p_ = nullptr;
    o.n_ = 0;
  }
  return *this;
}

void DeviceArray::resize(std::size_t n) {
  if (n <= n_) return;
  runtime();
  if (p_) {
    check(cudaStreamSynchronize(runtime().stream), "DeviceArray::resize");
    cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
  }
  void* p = nullptr;
  check(cudaMalloc(&p, n * sizeof(float)), "cudaMalloc");
  p_ = static_cast<float*>(p);
  n_ = n;
  check(cudaMemsetAsync(p_, 0, n * sizeof(float), runtime().stream), "cudaMemsetAsync");
}

void upload(float* dst, const float* src, std::size_t n) {
  if (n == 0) return;
  check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyHostToDevice, runtime().stream),
        "upload");
}

void download(float* dst, const float* src, std::size_t n) {
  if (n == 0) return;
  check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost, runtime().stream),
        "download");
  check(cudaStreamSynchronize(runtime().stream), "download");
}

void zero(float* dst, std::size_t n) {
  if (n == 0) return;
  check(cudaMemsetAsync(dst, 0, n * sizeof(float), runtime().stream), "zero");
}

void synchronize() { check(cudaStreamSynchronize(runtime().stream), "synchronize"); }

void sgd_update(float* value, const float* grad, float* momentum_buffer, std::int64_t n, float lr,
                float momentum, float dampening, float weight_decay, bool nesterov, bool first) {
  if (n == 0) return;
  sgd_update_kernel<<<blocks_for(n), kThreads, 0, runtime().stream>>>(
      value, momentum_buffer, grad, n, lr, momentum, dampening, weight_decay, nesterov, first);
  check_launch("sgd_update_kernel");
}

namespace {
bool g_tf32 = false;
}  // namespace

void set_allow_tf32(bool allow) { g_tf32 = allow; }
bool allow_tf32() { return g_tf32; }

double grad_squared_norm(const std::vector<Parameter*>& params) {
  Runtime& r = runtime();
  static DeviceArray acc(
      2);  // one double; every tensor's sum_squares adds into it, in stream order
  double* d = reinterpret_cast<double*>(acc.data());
  check(cudaMemsetAsync(d, 0, sizeof(double), r.stream), "sum_squares");
  for (const Parameter* p : params) {
    if (p->grad.empty()) continue;
    sum_squares<<<1, kThreads, 0, r.stream>>>(d, p->device_grad,
                                              static_cast<std::int64_t>(p->grad.size()));
    check_launch("sum_squares");
  }
  double out = 0;
  check(cudaMemcpyAsync(&out, d, sizeof(double), cudaMemcpyDeviceToHost, r.stream), "sum_squares");
  check(cudaStreamSynchronize(r.stream), "sum_squares");
  return out;
}

void scale(float* x, float s, std::int64_t n) {
  if (n == 0) return;
  scale_array<<<blocks_for(n), kThreads, 0, runtime().stream>>>(x, s, n);
  check_launch("scale_array");
}

}  // namespace ft::nn::cuda

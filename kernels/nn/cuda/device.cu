// Device memory, copies and the optimizer's kernels (see device.hpp); the runtime (runtime.cuh).
// Device buffers are allocated and freed in stream order and uploads are staged through pinned
// memory: no call here synchronises the device; download(), synchronize() and the gradient norm
// wait for the stream.
#include <cstring>
#include <limits>
#include <utility>

#include "kernels/nn/cuda/conv_algorithms.hpp"
#include "kernels/nn/cuda/kernels.cuh"
#include "kernels/nn/cuda/reductions.cuh"
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

namespace {
int g_device_ordinal = 0;
}  // namespace

void select_device(int ordinal) { g_device_ordinal = ordinal; }

void* stream_handle() { return runtime().stream; }

Runtime& runtime() {
  static Runtime* rt = [] {
    std::string why;
    if (!available(&why)) throw std::runtime_error(why);
    int count = 0;
    check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (g_device_ordinal >= count)
      throw std::runtime_error("this process is local rank " + std::to_string(g_device_ordinal) +
                               " and takes GPU " + std::to_string(g_device_ordinal) + ", but " +
                               std::to_string(count) + " GPU(s) are visible");
    auto* r = new Runtime;  // lives for the process: handles must outlive every layer
    check(cudaSetDevice(g_device_ordinal), "cudaSetDevice");
    check(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check(cudnnCreate(&r->dnn), "cudnnCreate");
    check(cudnnSetStream(r->dnn, r->stream), "cudnnSetStream");
    check(cublasCreate(&r->blas), "cublasCreate");
    check(cublasSetStream(r->blas, r->stream), "cublasSetStream");
    // FP32 GEMMs without TF32, so results stay within float rounding of the CPU path.
    check(cublasSetMathMode(r->blas, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    int pools = 0;
    check(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, g_device_ordinal),
          "cudaDeviceGetAttribute");
    if (pools) {
      // Keep freed memory in the pool (the default threshold 0 returns it to the driver at every
      // synchronisation, and the next step would map it again).
      cudaMemPool_t pool = nullptr;
      check(cudaDeviceGetDefaultMemPool(&pool, g_device_ordinal), "cudaDeviceGetDefaultMemPool");
      std::uint64_t keep = std::numeric_limits<std::uint64_t>::max();
      check(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep),
            "cudaMemPoolSetAttribute");
      r->async_alloc = true;
    }
    for (StagingSlot& s : r->staging) {
      check(cudaMallocHost(&s.host, kStagingFloats * sizeof(float)), "cudaMallocHost (staging)");
      check(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming), "cudaEventCreate");
    }
    return r;
  }();
  return *rt;
}

void* workspace(std::size_t bytes) {
  Runtime& r = runtime();
  r.workspace.resize((bytes + sizeof(float) - 1) / sizeof(float));
  return r.workspace.data();
}

namespace {

// Frees in stream order: kernels queued before still see the memory. Never throws (destructors).
void free_device(float* p) {
  if (!p) return;
  Runtime& r = runtime();
  if (r.async_alloc) {
    cudaFreeAsync(p, r.stream);
    return;
  }
  cudaStreamSynchronize(r.stream);  // no memory pools: the old buffer may still be in use
  cudaFree(p);
}

}  // namespace

DeviceArray::~DeviceArray() { free_device(p_); }

DeviceArray& DeviceArray::operator=(DeviceArray&& o) noexcept {
  if (this != &o) {
    free_device(p_);
    p_ = std::exchange(o.p_, nullptr);
    n_ = std::exchange(o.n_, 0);
  }
  return *this;
}

void DeviceArray::resize(std::size_t n) {
  if (n <= n_) return;
  Runtime& r = runtime();
  free_device(std::exchange(p_, nullptr));  // first, so the pool can reuse it for the new one
  n_ = 0;
  void* p = nullptr;
  const std::size_t bytes = n * sizeof(float);
  if (r.async_alloc)
    check(cudaMallocAsync(&p, bytes, r.stream), "cudaMallocAsync");
  else
    check(cudaMalloc(&p, bytes), "cudaMalloc");
  p_ = static_cast<float*>(p);
  n_ = n;
  check(cudaMemsetAsync(p_, 0, bytes, r.stream), "cudaMemsetAsync");
}

void upload(float* dst, const float* src, std::size_t n) {
  Runtime& r = runtime();
  for (std::size_t done = 0; done < n;) {
    const std::size_t part = std::min(n - done, kStagingFloats);
    StagingSlot& slot = r.staging[r.next_slot];
    r.next_slot ^= 1;
    // Its last copy out is done (an event never recorded is complete); the wait usually finds it
    // so, as the copy before it in the other slot has run meanwhile.
    check(cudaEventSynchronize(slot.done), "upload (staging)");
    std::memcpy(slot.host, src + done, part * sizeof(float));
    check(cudaMemcpyAsync(dst + done, slot.host, part * sizeof(float), cudaMemcpyHostToDevice,
                          r.stream),
          "upload");
    check(cudaEventRecord(slot.done, r.stream), "upload (staging)");
    done += part;
  }
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

// The gradients as a device table of chunks (multi_tensor_apply's list) and the norm's scratch:
// [the norm (double)][one double per block][the ticket (unsigned)], in one zeroed array.
struct GradTable {
  std::vector<std::pair<float*, std::int64_t>> tensors;  // what the table was built from
  int count = 0;
  unsigned blocks = 0;
  DeviceArray chunks, scratch;
  double* norm() const { return reinterpret_cast<double*>(scratch.data()); }
  double* block_sums() const { return norm() + 1; }
  unsigned* ticket() const { return reinterpret_cast<unsigned*>(block_sums() + blocks); }
  const TensorChunk* table() const { return reinterpret_cast<const TensorChunk*>(chunks.data()); }
};

// The table for `params`, rebuilt only when their device gradients differ from the last call's
// (the layers allocate them once, so in a run it is built once).
GradTable& grad_table(const std::vector<Parameter*>& params) {
  static GradTable t;
  std::vector<std::pair<float*, std::int64_t>> tensors;
  tensors.reserve(params.size());
  for (const Parameter* p : params)
    tensors.emplace_back(p->device_grad, static_cast<std::int64_t>(p->grad.size()));
  if (tensors == t.tensors && !t.tensors.empty()) return t;
  const std::vector<TensorChunk> chunks = split_into_chunks(tensors);
  static_assert(sizeof(TensorChunk) % sizeof(float) == 0);
  constexpr std::size_t kFloats = sizeof(TensorChunk) / sizeof(float);
  t.count = static_cast<int>(chunks.size());
  t.blocks = multi_tensor_blocks(chunks.size());
  t.chunks.resize(chunks.size() * kFloats);
  upload(t.chunks.data(), reinterpret_cast<const float*>(chunks.data()), chunks.size() * kFloats);
  // Zeroed when it grows; a smaller table reuses it: the ticket re-arms itself to 0, but its slot
  // moves with `blocks`, so clear the whole scratch.
  const std::size_t scratch = 2 + 2 * std::size_t{t.blocks} + 1;
  t.scratch.resize(scratch);
  zero(t.scratch.data(), scratch);
  t.tensors = std::move(tensors);
  return t;
}
}  // namespace

void set_allow_tf32(bool allow) { g_tf32 = allow; }
bool allow_tf32() { return g_tf32; }

double grad_squared_norm(const std::vector<Parameter*>& params) {
  Runtime& r = runtime();
  const GradTable& t = grad_table(params);
  if (t.count == 0) return 0.0;
  multi_tensor_squared_norm<<<t.blocks, kReduceThreads, 0, r.stream>>>(
      t.norm(), t.block_sums(), t.ticket(), t.table(), t.count);
  check_launch("multi_tensor_squared_norm");
  double out = 0;
  check(cudaMemcpyAsync(&out, t.norm(), sizeof(double), cudaMemcpyDeviceToHost, r.stream),
        "grad_squared_norm");
  check(cudaStreamSynchronize(r.stream), "grad_squared_norm");
  return out;
}

void scale_grads(const std::vector<Parameter*>& params, float s) {
  const GradTable& t = grad_table(params);
  if (t.count == 0) return;
  multi_tensor_scale<<<t.blocks, kReduceThreads, 0, runtime().stream>>>(t.table(), t.count, s);
  check_launch("multi_tensor_scale");
}

std::vector<std::string> nondeterministic_algorithms() {
  return nondeterministic_record().entries();
}

}  // namespace ft::nn::cuda

// CUDA path of the augmentation chain: plans the batch on the host (cuda_plan.hpp: dims, draw_op
// parameters, fused steps, buffer offsets), uploads images and per-sample tasks through pinned
// staging with async copies on one stream, launches each step's kernels (made from the op's
// functor, cuda_kernels.cuh), downloads the result.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "kernels/augment/cuda.hpp"
#include "kernels/augment/cuda_kernels.cuh"
#include "kernels/augment/ops.hpp"

namespace ft::aug {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// A device or pinned host buffer that only grows.
template <bool kPinned>
struct Buffer {
  void* p = nullptr;
  std::size_t bytes = 0;
  void reserve(std::size_t n) {
    if (n <= bytes) return;
    release();
    check(kPinned ? cudaMallocHost(&p, n) : cudaMalloc(&p, n),
          kPinned ? "cudaMallocHost" : "cudaMalloc");
    bytes = n;
  }
  void release() {
    if (p) kPinned ? cudaFreeHost(p) : cudaFree(p);
    p = nullptr;
    bytes = 0;
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

}  // namespace

struct CudaAugment::Impl {
  cudaStream_t stream = nullptr;
  int device = 0;
  Buffer<false> d_in, d_u8[2], d_float, d_tasks, d_lut, d_ids;
  Buffer<true> h_in, h_out, h_tasks, h_ids;
  cuda::Plan plan;
  bool profiling = false;
  std::vector<cudaEvent_t> events;  // 2 per step while profiling
  std::vector<CudaAugment::StepTiming> profile;

  // run()'s phases: upload the images, tasks and ids; launch one step's kernel(s); hand the
  // output over on the device or download it, then synchronise.
  void upload(const CudaBatch& b, std::size_t in_total, std::size_t out_total);
  void launch(const cuda::StepPlan& sp, const CudaBatch& b);
  void finish(const CudaBatch& b, std::size_t out_total);
  // Profiling: the events around each step, and the bytes a step reads and writes.
  void begin_profile();
  void profile_step(std::size_t step, std::size_t n);
  void end_profile();
  std::uint8_t* u8_buffer(int id) const {
    return id == 0 ? d_in.as<std::uint8_t>() : d_u8[id - 1].as<std::uint8_t>();
  }

  ~Impl() {
    for (cudaEvent_t e : events) cudaEventDestroy(e);
    for (auto* b : {&d_in, &d_u8[0], &d_u8[1], &d_float, &d_tasks, &d_lut, &d_ids}) b->release();
    for (auto* b : {&h_in, &h_out, &h_tasks, &h_ids}) b->release();
    if (stream) cudaStreamDestroy(stream);
  }
};

bool cuda_augment_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why)
      *why = e != cudaSuccess ? std::string("no usable CUDA device (") + cudaGetErrorString(e) + ")"
                              : std::string("no CUDA device is present");
    return false;
  }
  return true;
}

CudaAugment::CudaAugment(int device) : impl_(std::make_unique<Impl>()) {
  std::string why;
  if (!cuda_augment_available(&why)) throw std::runtime_error(why);
  impl_->device = device;
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
}

CudaAugment::~CudaAugment() = default;

void CudaAugment::run(const std::vector<AugmentOp>& ops, const CudaBatch& b) {
  Impl& m = *impl_;
  const std::size_t n = b.n;
  if (n == 0) return;
  if (n > 65535) throw std::runtime_error("CUDA augment: batches are limited to 65535 samples");
  check(cudaSetDevice(m.device), "cudaSetDevice");  // run() may come from any worker thread
  const std::size_t in_total = b.in_offsets[n - 1] + b.in_dims[n - 1].numel();
  const std::size_t out_total = b.out_offsets[n - 1] + b.out_dims[n - 1].numel();
  if (ops.empty()) {  // nothing to run: the output is the input
    if (b.device_out)
      throw std::runtime_error("CUDA augment: an empty chain has no f32 output to keep on the GPU");
    std::memcpy(b.out, b.in, in_total);
    return;
  }
  cuda::plan_batch(ops, b, m.plan);  // per-step tasks and buffer sizes, on the host
  m.upload(b, in_total, out_total);
  if (m.profiling) m.begin_profile();
  for (std::size_t step = 0; step < m.plan.steps.size(); ++step) {
    if (m.profiling) m.profile_step(step, n);
    m.launch(m.plan.steps[step], b);
    if (m.profiling) check(cudaEventRecord(m.events[2 * step + 1], m.stream), "cudaEventRecord");
  }
  m.finish(b, out_total);
  if (m.profiling) m.end_profile();
}

void CudaAugment::Impl::upload(const CudaBatch& b, std::size_t in_total, std::size_t out_total) {
  const std::size_t n = b.n;
  d_in.reserve(in_total);
  h_in.reserve(in_total);
  for (int j = 0; j < 2; ++j) d_u8[j].reserve(std::max<std::size_t>(plan.ping_elems[j], 1));
  d_float.reserve(b.out_type != OutType::u8 ? out_total * out_type_bytes(b.out_type) : 1);
  const std::size_t task_bytes = std::max<std::size_t>(plan.tasks.size(), 1) * sizeof(cuda::Task);
  d_tasks.reserve(task_bytes);
  h_tasks.reserve(task_bytes);
  d_lut.reserve(n * 768);
  d_ids.reserve(n * sizeof(std::uint64_t));
  h_ids.reserve(n * sizeof(std::uint64_t));
  std::memcpy(h_in.p, b.in, in_total);
  if (!plan.tasks.empty())
    std::memcpy(h_tasks.p, plan.tasks.data(), plan.tasks.size() * sizeof(cuda::Task));
  std::memcpy(h_ids.p, b.sample_ids, n * sizeof(std::uint64_t));
  check(cudaMemcpyAsync(d_in.p, h_in.p, in_total, cudaMemcpyHostToDevice, stream), "upload images");
  check(cudaMemcpyAsync(d_tasks.p, h_tasks.p, plan.tasks.size() * sizeof(cuda::Task),
                        cudaMemcpyHostToDevice, stream),
        "upload tasks");
  check(
      cudaMemcpyAsync(d_ids.p, h_ids.p, n * sizeof(std::uint64_t), cudaMemcpyHostToDevice, stream),
      "upload ids");
}

void CudaAugment::Impl::launch(const cuda::StepPlan& sp, const CudaBatch& b) {
  cuda::Step s = sp.step;
  s.tasks = d_tasks.as<cuda::Task>() + sp.first_task;
  s.in = sp.src == 3 ? nullptr : u8_buffer(sp.src);
  s.out_u8 = sp.dst == 3 ? nullptr : u8_buffer(sp.dst);
  s.out_f32 = d_float.as<float>();
  s.out_bf16 = d_float.as<std::uint16_t>();
  s.lut = d_lut.as<std::uint8_t>();
  s.ids = d_ids.as<std::uint64_t>();
  const char* name = op_name(sp.step.op.kind);
  const auto on_gpu = [&](void (*kernel)(cuda::Step), unsigned gx, unsigned gy, bool,
                          const cuda::Step& arg) {
    kernel<<<dim3(gx, gy), cuda::kThreads, 0, stream>>>(arg);
    check(cudaGetLastError(), name);
  };
  cuda::launch_step(on_gpu, sp, s, static_cast<unsigned>(b.n));
}

void CudaAugment::Impl::finish(const CudaBatch& b, std::size_t out_total) {
  const int src = plan.final_buffer;
  const std::size_t out_bytes = out_total * out_type_bytes(b.out_type);
  const void* dev_out = src == 3 ? d_float.p : static_cast<const void*>(u8_buffer(src));
  if (b.device_out) {
    if (b.out_type != OutType::f32 || src != 3)
      throw std::runtime_error(
          "CUDA augment: keeping the output on the GPU needs an f32 output (normalize, dtype f32)");
    // device_out is reused across batches (a pooled Batch keeps its allocation); its previous
    // reader, a GPU model, is done with it once Model::backward has returned (it synchronises when
    // its input came from device memory), so no cross-stream wait is needed here.
    check(cudaMemcpyAsync(b.device_out, dev_out, out_bytes, cudaMemcpyDeviceToDevice, stream),
          "device output");
  } else {
    h_out.reserve(out_bytes);
    check(cudaMemcpyAsync(h_out.p, dev_out, out_bytes, cudaMemcpyDeviceToHost, stream), "download");
  }
  check(cudaStreamSynchronize(stream), "augment kernels");
  if (!b.device_out) std::memcpy(b.out, h_out.p, out_bytes);
}

void CudaAugment::Impl::begin_profile() {
  while (events.size() < 2 * plan.steps.size()) {
    cudaEvent_t e;
    check(cudaEventCreate(&e), "cudaEventCreate");
    events.push_back(e);
  }
  profile.assign(plan.steps.size(), {});
}

void CudaAugment::Impl::profile_step(std::size_t step, std::size_t n) {
  const cuda::StepPlan& sp = plan.steps[step];
  check(cudaEventRecord(events[2 * step], stream), "cudaEventRecord");
  auto& p = profile[step];
  p.name = op_name(sp.step.op.kind);
  if (sp.step.normalize && sp.step.op.kind != OpKind::normalize) p.name += "+normalize";
  for (std::size_t i = 0; i < n; ++i) {
    const cuda::Task& t = plan.tasks[sp.first_task + i];
    const double read = sp.kernel == cuda::Kernel::erase ? 0.0 : static_cast<double>(t.in.numel());
    const double fbytes = sp.step.bf16 ? 2.0 : 4.0;
    const double written =
        sp.kernel == cuda::Kernel::erase
            ? fbytes * t.d.h * t.d.w * t.out.c * t.d.apply
            : static_cast<double>(t.out.numel()) * (sp.step.normalize ? fbytes : 1.0);
    p.bytes += read + written;
  }
}

void CudaAugment::Impl::end_profile() {
  for (std::size_t step = 0; step < plan.steps.size(); ++step) {
    float ms = 0;
    check(cudaEventElapsedTime(&ms, events[2 * step], events[2 * step + 1]),
          "cudaEventElapsedTime");
    profile[step].ms = ms;
  }
}

void CudaAugment::set_profiling(bool on) { impl_->profiling = on; }

std::shared_ptr<float> cuda_alloc_floats(std::size_t n) {
  void* p = nullptr;
  check(cudaMalloc(&p, std::max<std::size_t>(n, 1) * sizeof(float)), "cudaMalloc");
  return std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { cudaFree(q); });
}

const std::vector<CudaAugment::StepTiming>& CudaAugment::last_profile() const {
  return impl_->profile;
}

double CudaAugment::copy_bandwidth_gbs(std::size_t bytes) {
  Impl& m = *impl_;
  Buffer<false> a, b;
  a.reserve(bytes);
  b.reserve(bytes);
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "cudaEventCreate");
  check(cudaEventCreate(&e1), "cudaEventCreate");
  check(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, m.stream), "warm-up copy");
  check(cudaEventRecord(e0, m.stream), "cudaEventRecord");
  constexpr int kReps = 10;
  for (int r = 0; r < kReps; ++r)
    check(cudaMemcpyAsync(b.p, a.p, bytes, cudaMemcpyDeviceToDevice, m.stream), "copy");
  check(cudaEventRecord(e1, m.stream), "cudaEventRecord");
  check(cudaEventSynchronize(e1), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, e0, e1), "cudaEventElapsedTime");
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  a.release();
  b.release();
  return 2.0 * static_cast<double>(bytes) * kReps / (ms * 1e-3) / 1e9;
}

}  // namespace ft::aug

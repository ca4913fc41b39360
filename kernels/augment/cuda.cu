// CUDA path of the augmentation chain: plans the batch on the host (dims, draw_op parameters, fused
// steps, buffer offsets), uploads images and per-sample tasks through pinned staging with async
// copies on one stream, launches one kernel per step, and downloads the result.
// Fusion (exact, since each fused op only remaps or re-encodes output pixels): a crop/resize
// followed by hflip mirrors its writes; followed by normalize it writes f32 CHW directly.
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
    check(kPinned ? cudaMallocHost(&p, n) : cudaMalloc(&p, n), kPinned ? "cudaMallocHost" : "cudaMalloc");
    bytes = n;
  }
  void release() {
    if (p) kPinned ? cudaFreeHost(p) : cudaFree(p);
    p = nullptr;
    bytes = 0;
  }
  template <class T>
  T* as() const { return static_cast<T*>(p); }
};

enum class Kernel { crop, resize, rotate, to_rgb, ta, normalize, erase };

struct StepPlan {
  Kernel kernel;
  cuda::Step step;         // pointers filled at launch
  int src = 0, dst = 0;    // buffers: 0 input, 1 / 2 ping-pong u8, 3 f32 output
  std::size_t first_task = 0;
  long max_work = 0;       // largest per-sample thread count
  std::uint32_t op_index = 0;
};

Kernel kernel_of(OpKind k) {
  switch (k) {
    case OpKind::resize: case OpKind::random_resized_crop: return Kernel::resize;
    case OpKind::rotate: return Kernel::rotate;
    case OpKind::to_rgb: return Kernel::to_rgb;
    case OpKind::trivial_augment_wide: return Kernel::ta;
    case OpKind::normalize: return Kernel::normalize;
    case OpKind::random_erasing: return Kernel::erase;
    default: return Kernel::crop;
  }
}

}  // namespace

struct CudaAugment::Impl {
  cudaStream_t stream = nullptr;
  Buffer<false> d_in, d_u8[2], d_f32, d_tasks, d_lut, d_ids;
  Buffer<true> h_in, h_out, h_tasks, h_ids;
  std::vector<cuda::Task> tasks;
  std::vector<StepPlan> steps;
  std::vector<Dims> cur;
  std::vector<std::size_t> cur_off;

  ~Impl() {
    for (auto* b : {&d_in, &d_u8[0], &d_u8[1], &d_f32, &d_tasks, &d_lut, &d_ids}) b->release();
    for (auto* b : {&h_in, &h_out, &h_tasks, &h_ids}) b->release();
    if (stream) cudaStreamDestroy(stream);
  }
};

bool cuda_augment_available(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    if (why) *why = e != cudaSuccess ? std::string("no usable CUDA device (") + cudaGetErrorString(e) + ")"
                                     : std::string("no CUDA device is present");
    return false;
  }
  return true;
}

CudaAugment::CudaAugment(int device) : impl_(std::make_unique<Impl>()) {
  std::string why;
  if (!cuda_augment_available(&why)) throw std::runtime_error(why);
  check(cudaSetDevice(device), "cudaSetDevice");
  check(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
}

CudaAugment::~CudaAugment() = default;

void CudaAugment::run(const std::vector<AugmentOp>& ops, const CudaBatch& b) {
  Impl& m = *impl_;
  const std::size_t n = b.n;
  if (n == 0) return;
  if (n > 65535) throw std::runtime_error("CUDA augment: batches are limited to 65535 samples");
  validate_ops(ops);
  const std::size_t in_total = b.in_offsets[n - 1] + b.in_dims[n - 1].numel();
  const std::size_t out_total = b.out_offsets[n - 1] + b.out_dims[n - 1].numel();
  if (ops.empty()) {  // nothing to run: the output is the input
    std::memcpy(b.out, b.in, in_total);
    return;
  }

  // ---- plan: per-step tasks and buffer sizes ----
  m.tasks.clear();
  m.steps.clear();
  m.cur.assign(b.in_dims, b.in_dims + n);
  m.cur_off.assign(b.in_offsets, b.in_offsets + n);
  std::size_t ping_bytes[2] = {0, 0};
  int src = 0, next = 1;
  for (std::size_t k = 0; k < ops.size();) {
    const AugmentOp& op = ops[k];
    StepPlan sp;
    sp.kernel = kernel_of(op.kind);
    sp.step.op = op;
    sp.first_task = m.tasks.size();
    sp.op_index = static_cast<std::uint32_t>(k);
    const bool geometric = sp.kernel == Kernel::crop || sp.kernel == Kernel::resize;
    const bool fuse_flip = geometric && op.kind != OpKind::hflip && k + 1 < ops.size() && ops[k + 1].kind == OpKind::hflip;
    const std::size_t after = k + 1 + (fuse_flip ? 1 : 0);
    const bool in_f32 = sp.kernel == Kernel::erase;
    sp.step.normalize = op.kind == OpKind::normalize ||
                        (sp.kernel != Kernel::erase && after < ops.size() && ops[after].kind == OpKind::normalize);
    if (sp.step.normalize) {
      const AugmentOp& norm = op.kind == OpKind::normalize ? op : ops[after];
      std::copy(norm.mean, norm.mean + kMaxChannels, sp.step.mean);
      std::copy(norm.std, norm.std + kMaxChannels, sp.step.stdev);
      sp.step.n_stats = norm.n_stats;
    }
    std::size_t out_off = 0;
    for (std::size_t i = 0; i < n; ++i) {
      cuda::Task t;
      t.in = m.cur[i];
      t.d = draw_op(op, t.in, b.seed, b.epoch, b.sample_ids[i], static_cast<std::uint32_t>(k));
      t.out = op.kind == OpKind::normalize || in_f32 ? t.in : op_output_dims(op, t.in);
      if (fuse_flip) t.flip = draw_op(ops[k + 1], t.out, b.seed, b.epoch, b.sample_ids[i], static_cast<std::uint32_t>(k + 1)).flip;
      if (sp.kernel == Kernel::resize) {
        const int taps = std::max(resize_taps(t.d.w, t.out.w, op.antialias), resize_taps(t.d.h, t.out.h, op.antialias));
        if (taps > cuda::kMaxTaps)
          throw std::runtime_error(std::string("CUDA augment: ") + op_name(op.kind) + " shrinks by more than 16x");
      }
      if (sp.kernel == Kernel::rotate || sp.kernel == Kernel::ta) affine_rescale(t.d.matrix, t.in.w, t.in.h, t.rt);
      if (sp.kernel == Kernel::ta) {
        const BlendCoef k2 = blend_coef(1.0 + static_cast<double>(t.d.magnitude));
        t.k = k2;
      }
      t.in_off = m.cur_off[i];
      t.out_off = sp.step.normalize || in_f32 ? b.out_offsets[i] : out_off;
      out_off += t.out.numel();
      m.cur[i] = t.out;
      m.cur_off[i] = t.out_off;
      sp.max_work = std::max(sp.max_work, in_f32 ? static_cast<long>(t.d.h) * t.d.w * t.out.c
                                                 : static_cast<long>(t.out.h) * t.out.w);
      m.tasks.push_back(t);
    }
    if (in_f32 || sp.step.normalize) {
      sp.src = in_f32 ? 3 : src;
      sp.dst = 3;
      src = 3;
    } else {
      sp.src = src;
      sp.dst = next;
      ping_bytes[next - 1] = std::max(ping_bytes[next - 1], out_off);
      src = next;
      next = next == 1 ? 2 : 1;
    }
    m.steps.push_back(sp);
    k = (op.kind == OpKind::normalize) ? k + 1 : (sp.step.normalize ? after + 1 : after);
  }

  // ---- upload ----
  m.d_in.reserve(in_total);
  m.h_in.reserve(in_total);
  for (int j = 0; j < 2; ++j) m.d_u8[j].reserve(std::max<std::size_t>(ping_bytes[j], 1));
  m.d_f32.reserve(b.out_f32 ? out_total * sizeof(float) : 1);
  const std::size_t task_bytes = std::max<std::size_t>(m.tasks.size(), 1) * sizeof(cuda::Task);
  m.d_tasks.reserve(task_bytes);
  m.h_tasks.reserve(task_bytes);
  m.d_lut.reserve(n * 768);
  m.d_ids.reserve(n * sizeof(std::uint64_t));
  m.h_ids.reserve(n * sizeof(std::uint64_t));
  std::memcpy(m.h_in.p, b.in, in_total);
  if (!m.tasks.empty()) std::memcpy(m.h_tasks.p, m.tasks.data(), m.tasks.size() * sizeof(cuda::Task));
  std::memcpy(m.h_ids.p, b.sample_ids, n * sizeof(std::uint64_t));
  check(cudaMemcpyAsync(m.d_in.p, m.h_in.p, in_total, cudaMemcpyHostToDevice, m.stream), "upload images");
  check(cudaMemcpyAsync(m.d_tasks.p, m.h_tasks.p, m.tasks.size() * sizeof(cuda::Task), cudaMemcpyHostToDevice, m.stream),
        "upload tasks");
  check(cudaMemcpyAsync(m.d_ids.p, m.h_ids.p, n * sizeof(std::uint64_t), cudaMemcpyHostToDevice, m.stream), "upload ids");

  // ---- launch ----
  const auto u8_buf = [&](int id) -> std::uint8_t* {
    return id == 0 ? m.d_in.as<std::uint8_t>() : m.d_u8[id - 1].as<std::uint8_t>();
  };
  constexpr int kThreads = 256;
  for (StepPlan& sp : m.steps) {
    cuda::Step s = sp.step;
    s.tasks = m.d_tasks.as<cuda::Task>() + sp.first_task;
    s.in = sp.src == 3 ? nullptr : u8_buf(sp.src);
    s.out_u8 = sp.dst == 3 ? nullptr : u8_buf(sp.dst);
    s.out_f32 = m.d_f32.as<float>();
    s.lut = m.d_lut.as<std::uint8_t>();
    const dim3 grid(static_cast<unsigned>(std::max<long>(1, (sp.max_work + kThreads - 1) / kThreads)),
                    static_cast<unsigned>(n));
    switch (sp.kernel) {
      case Kernel::crop: cuda::crop_kernel<<<grid, kThreads, 0, m.stream>>>(s); break;
      case Kernel::resize: cuda::resize_kernel<<<grid, kThreads, 0, m.stream>>>(s); break;
      case Kernel::rotate: cuda::rotate_kernel<<<grid, kThreads, 0, m.stream>>>(s); break;
      case Kernel::to_rgb: cuda::to_rgb_kernel<<<grid, kThreads, 0, m.stream>>>(s); break;
      case Kernel::normalize: cuda::normalize_kernel<<<grid, kThreads, 0, m.stream>>>(s); break;
      case Kernel::ta:
        cuda::ta_lut_kernel<<<static_cast<unsigned>(n), kThreads, 0, m.stream>>>(s);
        check(cudaGetLastError(), "ta_lut_kernel");
        cuda::ta_apply_kernel<<<grid, kThreads, 0, m.stream>>>(s);
        break;
      case Kernel::erase:
        cuda::erase_kernel<<<grid, kThreads, 0, m.stream>>>(s, b.seed, b.epoch, m.d_ids.as<std::uint64_t>(), sp.op_index);
        break;
    }
    check(cudaGetLastError(), op_name(sp.step.op.kind));
  }

  // ---- download ----
  const std::size_t out_bytes = out_total * (b.out_f32 ? sizeof(float) : 1);
  m.h_out.reserve(out_bytes);
  const void* dev_out = src == 3 ? m.d_f32.p : static_cast<const void*>(u8_buf(src));
  check(cudaMemcpyAsync(m.h_out.p, dev_out, out_bytes, cudaMemcpyDeviceToHost, m.stream), "download");
  check(cudaStreamSynchronize(m.stream), "augment kernels");
  std::memcpy(b.out, m.h_out.p, out_bytes);
}

}  // namespace ft::aug

// Host-callable CUDA path of the augmentation chain. This header compiles without CUDA: when
// FT_HAVE_CUDA is not defined, cuda_augment_available() is false and CudaAugment's constructor
// throws std::runtime_error saying why. Parameters are drawn on the host with draw_op (the CPU
// path's function), so both paths take identical random decisions; kernels run each op's functor
// (ops/<name>.hpp), the code its CPU loop shares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/augment/types.hpp"

namespace ft::aug {

// True when CUDA was compiled in and a device can be used; otherwise false, *why says why.
bool cuda_augment_available(std::string* why = nullptr);

// Element type of a chain's output: u8 HWC, or (after normalize) f32 or bf16 CHW.
enum class OutType : std::uint8_t { u8, f32, bf16 };
inline std::size_t out_type_bytes(OutType t) {
  return t == OutType::u8 ? 1 : t == OutType::bf16 ? 2 : 4;
}

// A batch of ragged u8 HWC host images in; the chain's outputs (plan_output's type) out, on the
// host.
struct CudaBatch {
  const std::uint8_t* in = nullptr;         // all inputs, back to back
  const std::size_t* in_offsets = nullptr;  // element offset of sample i in `in`
  const Dims* in_dims = nullptr;
  std::size_t n = 0;
  const std::uint64_t* sample_ids = nullptr;  // Philox sample coordinate per sample
  std::uint64_t seed = 0;
  std::uint32_t epoch = 0;
  void* out = nullptr;                       // elements of out_type, back to back
  const std::size_t* out_offsets = nullptr;  // element offsets
  const Dims* out_dims = nullptr;            // plan_output(ops, in_dims[i]).dims
  OutType out_type = OutType::u8;            // must be plan_output's (u8, f32, or bf16)
  // When set, the (f32) output stays in GPU memory: run() writes it here, back to back, instead of
  // downloading it to `out`, and returns once it is complete (other streams may read it). The
  // buffer must not be in use by other work when run() is called (Model::backward guarantees
  // that for its input).
  float* device_out = nullptr;
};

// Device memory for outputs kept on the GPU (CudaBatch::device_out), freed with its last owner.
std::shared_ptr<float> cuda_alloc_floats(std::size_t n);

// Device buffers, pinned staging and a stream, reused across batches (grown, never shrunk).
// Not thread-safe: one batch at a time per object.
class CudaAugment {
 public:
  explicit CudaAugment(int device = 0);
  ~CudaAugment();
  CudaAugment(const CudaAugment&) = delete;
  CudaAugment& operator=(const CudaAugment&) = delete;
  // Uploads the batch (pinned staging, async copies on the stream), runs one kernel per op (crop
  // and flip fuse into the following resize or normalize where exact), downloads the outputs and
  // synchronises. Throws std::runtime_error with the CUDA error string on failure.
  void run(const std::vector<AugmentOp>& ops, const CudaBatch& batch);

  // Per-step kernel times of the next run() calls (CUDA events around each launch), and the bytes
  // each step reads and writes, for the achieved-bandwidth benchmark.
  struct StepTiming {
    std::string name;
    double ms = 0, bytes = 0;
  };
  void set_profiling(bool on);
  const std::vector<StepTiming>& last_profile() const;
  // Device-to-device cudaMemcpy bandwidth in GB/s (bytes read + written), the reference for the
  // above.
  double copy_bandwidth_gbs(std::size_t bytes);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

inline void apply_ops_cuda(CudaAugment& ctx, const std::vector<AugmentOp>& ops,
                           const CudaBatch& batch) {
  ctx.run(ops, batch);
}

}  // namespace ft::aug

// The augment stage: plans output shapes serially (cheap, and errors name the sample), then runs
// the chain per sample under tbb::parallel_for on the CPU, or as one batch through CudaAugment.
// On the CPU, a batch whose samples all end in one f32 shape is written straight into the dense
// `input` tensor (no copy left for the batch stage) unless output = "image".
// Output lists are pooled (a concurrent queue of spare ImageLists swapped with the batch's
// column) and scratch is thread-local, so run() may serve several batches at once. On the GPU each
// batch in flight takes a CUDA context (its own stream and buffers) from a pool, so one batch's
// upload and download overlap another's kernels.
#include "stages/augment/augment_stage.hpp"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/concurrent_queue.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <stdexcept>

#include "kernels/augment/cuda.hpp"
#include "kernels/augment/ops.hpp"
#include "pipeline/error.hpp"

namespace ft {

namespace {

// One batch's CUDA work: a CudaAugment (stream, device and pinned buffers) and the per-sample
// arrays its CudaBatch points to.
struct CudaSlot {
  aug::CudaAugment gpu{0};
  std::vector<aug::Dims> in_dims, out_dims;
  std::vector<std::uint64_t> ids;
  std::vector<std::size_t> out_offsets;  // output = "device": the dense batch's sample offsets
};

}  // namespace

struct AugmentStage::State {
  tbb::enumerable_thread_specific<aug::Scratch> scratch;
  tbb::concurrent_queue<ImageList> spare;
  tbb::concurrent_queue<std::unique_ptr<CudaSlot>>
      cuda;  // idle contexts; grows to the batches in flight
};

AugmentStage::AugmentStage(std::vector<aug::AugmentOp> ops, std::string device,
                           std::string stage_id, AugmentOutput output)
    : ops_(std::move(ops)),
      device_(std::move(device)),
      id_(std::move(stage_id)),
      output_(output),
      state_(std::make_unique<State>()) {}

AugmentStage::~AugmentStage() = default;

void AugmentStage::setup(RunContext& ctx) {
  const bool output_device = output_ == AugmentOutput::device;
  if (output_device && ctx.device != "cuda")
    throw ConfigError(
        fmt::format("output = \"device\" feeds a model on the GPU, but [run] device "
                    "is \"{}\"; set [run] device = \"cuda\" or output = \"host\"",
                    ctx.device));
  std::string why;
  if (device_ == "auto") device_ = aug::cuda_augment_available(&why) ? "cuda" : "cpu";
  if (output_device && device_ != "cuda")
    throw Error(
        fmt::format("output = \"device\" needs the ops on the GPU, but they run on the {}{}",
                    device_, why.empty() ? "" : " (" + why + ")"));
  if (device_ != "cuda" || !state_->cuda.empty()) return;
  if (!aug::cuda_augment_available(&why))
    throw Error(fmt::format("device = \"cuda\" but {}; use device = \"cpu\" (or \"auto\")", why));
  try {
    state_->cuda.push(std::make_unique<CudaSlot>());
  } catch (const std::exception& e) {
    throw Error(fmt::format("cannot start CUDA augmentation: {}", e.what()));
  }
}

void AugmentStage::run(Batch& batch) {
  ImageList& in = batch.image;
  const std::size_t n = in.size();
  if (n == 0) return;
  if (in.dtype != DType::u8)
    throw Error(fmt::format(
        "stage '{}' (augment): column 'image' is {} already (normalized upstream?); augment "
        "reads u8 HWC images",
        id_, in.dtype == DType::f32 ? "f32" : "bf16"));
  if (batch.index.size() != n)
    throw Error(fmt::format("stage '{}' (augment): column 'index' has {} entries for {} images",
                            id_, batch.index.size(), n));
  std::vector<ImageDims> out_dims(n);
  DType out_type = DType::u8;
  for (std::size_t i = 0; i < n; ++i) {
    const ImageDims& d = in.dims[i];
    try {
      const aug::Plan plan = aug::plan_output(ops_, aug::Dims{d.h, d.w, d.c});
      out_dims[i] = ImageDims{plan.dims.h, plan.dims.w, plan.dims.c};
      out_type = plan.bf16 ? DType::bf16 : plan.f32 ? DType::f32 : DType::u8;
    } catch (const std::invalid_argument& e) {
      throw Error(fmt::format("stage '{}' (augment): {}: {}", id_, batch.describe(i), e.what()));
    }
  }
  if (output_ == AugmentOutput::device) {
    run_cuda_to_device(batch, out_dims);
    return;
  }
  const bool one_shape = std::all_of(out_dims.begin(), out_dims.end(),
                                     [&](const ImageDims& d) { return d == out_dims[0]; });
  if (output_ == AugmentOutput::host && device_ == "cpu" && out_type == DType::f32 && one_shape) {
    run_cpu_packed(batch, out_dims[0]);
    return;
  }
  ImageList out;
  state_->spare.try_pop(out);
  out.layout(out_type, out_dims);
  if (device_ == "cuda") {
    run_cuda(batch, out_dims, &out);
  } else {
    run_cpu(batch, [&](std::size_t i) {
      aug::ChainOut o;
      switch (out.dtype) {
        case DType::u8:
          o.u8 = out.u8_at(i);
          break;
        case DType::f32:
          o.f32 = out.f32_at(i);
          break;
        case DType::bf16:
          o.bf16 = out.bf16_at(i);
          break;
      }
      return o;
    });
  }
  std::swap(batch.image, out);
  state_->spare.push(std::move(out));
}

// Sample i lands in its slot of the dense (N, C, H, W) input, which the pooled batch keeps the
// capacity of; image is cleared, which tells the batch stage that input is packed already.
void AugmentStage::run_cpu_packed(Batch& batch, const ImageDims& d) {
  Tensor& t = batch.input;
  const std::size_t per = d.numel();
  t.resize({static_cast<std::int64_t>(batch.image.size()), d.c, d.h, d.w});
  run_cpu(batch, [&](std::size_t i) {
    aug::ChainOut o;
    o.f32 = t.data.data() + i * per;
    return o;
  });
  batch.image.clear();
}

void AugmentStage::run_cpu(const Batch& batch,
                           const std::function<aug::ChainOut(std::size_t)>& out_at) {
  const ImageList& in = batch.image;
  const auto epoch = static_cast<std::uint32_t>(batch.epoch);
  tbb::parallel_for(
      tbb::blocked_range<std::size_t>(0, in.size()), [&](const tbb::blocked_range<std::size_t>& r) {
        aug::Scratch& s = state_->scratch.local();
        for (std::size_t i = r.begin(); i != r.end(); ++i) {
          const ImageDims& d = in.dims[i];
          try {
            aug::apply_ops_cpu(ops_, in.u8_at(i), aug::Dims{d.h, d.w, d.c}, out_at(i), batch.seed,
                               epoch, static_cast<std::uint64_t>(batch.index[i]), s);
          } catch (const std::exception& e) {
            throw Error(
                fmt::format("stage '{}' (augment): {}: {}", id_, batch.describe(i), e.what()));
          }
        }
      });
}

namespace {

// An idle CUDA context from the pool, or a new one.
std::unique_ptr<CudaSlot> take_slot(tbb::concurrent_queue<std::unique_ptr<CudaSlot>>& pool,
                                    const std::string& id) {
  std::unique_ptr<CudaSlot> slot;
  if (pool.try_pop(slot)) return slot;
  try {
    return std::make_unique<CudaSlot>();
  } catch (const std::exception& e) {
    throw Error(fmt::format("stage '{}' (augment, cuda): cannot start another CUDA context: {}", id,
                            e.what()));
  }
}

}  // namespace

void AugmentStage::run_cuda_to_device(Batch& batch, const std::vector<ImageDims>& out_dims) {
  const std::size_t n = out_dims.size();
  for (std::size_t i = 1; i < n; ++i)
    if (!(out_dims[i] == out_dims[0]))
      throw Error(fmt::format(
          "stage '{}' (augment): output = \"device\" needs one output size, but {} gives {}x{}x{} "
          "and the first sample {}x{}x{}; end the ops with a resize or crop to a fixed size",
          id_, batch.describe(i), out_dims[i].h, out_dims[i].w, out_dims[i].c, out_dims[0].h,
          out_dims[0].w, out_dims[0].c));
  const ImageDims d = out_dims[0];
  DeviceTensor& t = batch.input_device;
  const std::size_t total = n * d.numel();
  if (t.capacity < total) {
    try {
      auto p = aug::cuda_alloc_floats(total);
      t.data = p.get();
      t.owner = std::move(p);
      t.capacity = total;
    } catch (const std::exception& e) {
      throw Error(fmt::format("stage '{}' (augment, cuda): {}", id_, e.what()));
    }
  }
  t.shape = {static_cast<std::int64_t>(n), d.c, d.h, d.w};
  run_cuda(batch, out_dims, nullptr);
  batch.input.clear();
  batch.image.clear();
}

void AugmentStage::run_cuda(Batch& batch, const std::vector<ImageDims>& out_dims, ImageList* out) {
  std::unique_ptr<CudaSlot> slot = take_slot(state_->cuda, id_);
  const ImageList& in = batch.image;
  const std::size_t n = in.size();
  CudaSlot& st = *slot;
  st.in_dims.resize(n);
  st.out_dims.resize(n);
  st.ids.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    st.in_dims[i] = aug::Dims{in.dims[i].h, in.dims[i].w, in.dims[i].c};
    st.out_dims[i] = aug::Dims{out_dims[i].h, out_dims[i].w, out_dims[i].c};
    st.ids[i] = static_cast<std::uint64_t>(batch.index[i]);
  }
  aug::CudaBatch b;
  b.in = in.u8.data();
  b.in_offsets = in.offsets.data();
  b.in_dims = st.in_dims.data();
  b.n = n;
  b.sample_ids = st.ids.data();
  b.seed = batch.seed;
  b.epoch = static_cast<std::uint32_t>(batch.epoch);
  b.out_dims = st.out_dims.data();
  if (out) {
    b.out_type = out->dtype == DType::bf16  ? aug::OutType::bf16
                 : out->dtype == DType::f32 ? aug::OutType::f32
                                            : aug::OutType::u8;
    b.out = b.out_type == aug::OutType::bf16  ? static_cast<void*>(out->bf16.data())
            : b.out_type == aug::OutType::f32 ? static_cast<void*>(out->f32.data())
                                              : static_cast<void*>(out->u8.data());
    b.out_offsets = out->offsets.data();
  } else {  // the dense f32 batch in batch.input_device
    st.out_offsets.resize(n);
    for (std::size_t i = 0; i < n; ++i) st.out_offsets[i] = i * out_dims[0].numel();
    b.out_type = aug::OutType::f32;
    b.out_offsets = st.out_offsets.data();
    b.device_out = batch.input_device.data;
  }
  try {
    aug::apply_ops_cuda(st.gpu, ops_, b);
  } catch (const std::exception& e) {
    throw Error(fmt::format("stage '{}' (augment, cuda): batch {}: {}", id_, batch.seq, e.what()));
  }
  state_->cuda.push(std::move(slot));
}

}  // namespace ft

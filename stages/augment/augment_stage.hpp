// Stage `augment`: runs a chain of augmentation ops (kernels/augment) over column `image`,
// per sample, in parallel over the batch with TBB. Output is u8 HWC, or f32 / bf16 CHW once
// normalize ran. Every random draw is Philox(batch.seed, batch.epoch, batch.index[i], op index), so
// output is byte-identical for any thread count. Scratch is per worker thread and output buffers
// are pooled, so steady-state batches allocate nothing per sample.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/augment/ops.hpp"
#include "kernels/augment/types.hpp"
#include "pipeline/stage.hpp"

namespace ft {

// Parses and validates the `ops` list ([{ op = "name", ... }, ...]). Errors are ConfigErrors naming
// file:line:col, the stage, the op index and name, and the key; an unknown op lists the known ones.
std::vector<aug::AugmentOp> parse_augment_ops(const Params& p);
// Names of the known ops and, for `flowtrain stages`, their keys.
const std::vector<std::string>& augment_op_names();
std::string augment_ops_doc();

// Where the stage's result goes (the `output` key).
enum class AugmentOutput : std::uint8_t {
  host,    // the dense f32 `input` column on the host when the batch's samples end in one f32
           // shape (the batch stage then has nothing to pack), else column `image`
  image,   // always column `image`, one image per sample
  device,  // the `input` column in GPU memory for a GPU model (needs device = "cuda", an f32
           // normalize, and one output size for every sample)
};

class AugmentStage : public Stage {
 public:
  AugmentStage(std::vector<aug::AugmentOp> ops, std::string device, std::string stage_id,
               AugmentOutput output = AugmentOutput::host);
  ~AugmentStage() override;
  void setup(RunContext& ctx) override;
  void run(Batch& batch) override;
  const std::vector<aug::AugmentOp>& ops() const { return ops_; }

 private:
  // Runs the chain on sample i of batch.image into out_at(i) (the output pointer of the plan's
  // type), in parallel over the samples.
  void run_cpu(const Batch& batch, const std::function<aug::ChainOut(std::size_t)>& out_at);
  // output = "host" with one f32 shape d for every sample: straight into batch.input.
  void run_cpu_packed(Batch& batch, const ImageDims& d);
  // out: the host output list; null: output = "device" (the dense f32 batch in input_device)
  void run_cuda(Batch& batch, const std::vector<ImageDims>& out_dims, ImageList* out);

  void run_cuda_to_device(Batch& batch, const std::vector<ImageDims>& out_dims);

  std::vector<aug::AugmentOp> ops_;
  std::string device_, id_;
  AugmentOutput output_ = AugmentOutput::host;
  struct State;  // thread-local scratch, pooled output lists, the CUDA context
  std::unique_ptr<State> state_;
};

StageKind augment_kind();

}  // namespace ft

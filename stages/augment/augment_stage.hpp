// Stage `augment`: runs a chain of augmentation ops (kernels/augment) over column `image`,
// per sample, in parallel over the batch with TBB. Output is u8 HWC, or f32 / bf16 CHW once
// normalize ran. Every random draw is Philox(batch.seed, batch.epoch, batch.index[i], op index), so
// output is byte-identical for any thread count. Scratch is per worker thread and output buffers
// are pooled, so steady-state batches allocate nothing per sample.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/augment/types.hpp"
#include "pipeline/stage.hpp"

namespace ft {

// Parses and validates the `ops` list ([{ op = "name", ... }, ...]). Errors are ConfigErrors naming
// file:line:col, the stage, the op index and name, and the key; an unknown op lists the known ones.
std::vector<aug::AugmentOp> parse_augment_ops(const Params& p);
// Names of the known ops and, for `flowtrain stages`, their keys.
const std::vector<std::string>& augment_op_names();
std::string augment_ops_doc();

class AugmentStage : public Stage {
 public:
  // output_device: hand the batch to a GPU model as the `input` column in device memory (needs
  // device = "cuda", an f32 normalize, and one output size for every sample).
  AugmentStage(std::vector<aug::AugmentOp> ops, std::string device, std::string stage_id,
               bool output_device = false);
  ~AugmentStage() override;
  void setup(RunContext& ctx) override;
  void run(Batch& batch) override;
  const std::vector<aug::AugmentOp>& ops() const { return ops_; }

 private:
  void run_cpu(Batch& batch, ImageList& out);
  // out: the host output list; null: output = "device" (the dense f32 batch in input_device)
  void run_cuda(Batch& batch, const std::vector<ImageDims>& out_dims, ImageList* out);

  void run_cuda_to_device(Batch& batch, const std::vector<ImageDims>& out_dims);

  std::vector<aug::AugmentOp> ops_;
  std::string device_, id_;
  bool output_device_ = false;
  struct State;  // thread-local scratch, pooled output lists, the CUDA context
  std::unique_ptr<State> state_;
};

StageKind augment_kind();

}  // namespace ft

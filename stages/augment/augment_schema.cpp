// The augment stage's schema: its keys (ops, device, output), the access declaration derived from
// them (which columns it reads and may write, checked before anything runs) and its factory.
#include "kernels/augment/ops.hpp"
#include "pipeline/error.hpp"
#include "stages/augment/augment_stage.hpp"

namespace ft {

StageKind augment_kind() {
  StageKind k;
  k.name = "augment";
  k.doc =
      "Augments column 'image' per sample with a chain of torchvision-compatible ops (u8 HWC in; "
      "u8 HWC out, or f32 / bf16 CHW once normalize ran). Random draws: Philox(run seed, epoch, "
      "sample index, op index).";
  k.params = {
      {"ops", ParamType::table_list,
       "the ops in order, each { op = \"name\", ... }: " + augment_ops_doc(), "", false},
      {"device",
       ParamType::string,
       "where the ops run: cpu, cuda (error without a GPU) or auto",
       "\"cpu\"",
       false,
       std::nullopt,
       std::nullopt,
       {"cpu", "cuda", "auto"}},
      {"output",
       ParamType::string,
       "host: when every sample of a batch ends in one f32 shape (an f32 normalize after a fixed "
       "size), write each straight into its slot of column 'input' (the batch stage then has "
       "nothing to copy), else column 'image'; image: always column 'image'; device: write column "
       "'input' in GPU memory for a GPU model ([run] device = \"cuda\"), skipping the batch stage "
       "and the round trip through the host (needs device = \"cuda\" and an f32 normalize)",
       "\"host\"",
       false,
       std::nullopt,
       std::nullopt,
       {"host", "image", "device"}},
  };
  // Parsing the ops here too makes graph validation (and --dry-run) report op errors, with
  // file:line:col and exit code 2, before any stage is built.
  k.access = [](const Params& p) {
    const auto ops = parse_augment_ops(p);
    bool f32 = false;
    for (const auto& op : ops) f32 = f32 || (op.kind == aug::OpKind::normalize && !op.bf16);
    const std::string output = p.get_string("output");
    if (output == "host" && f32)
      return Access{{col::kImage, col::kIndex}, {col::kImage, col::kInput}};
    if (output != "device") return Access{{col::kImage, col::kIndex}, {col::kImage}};
    if (p.get_string("device") == "cpu")
      throw ConfigError(
          p.where("output") +
          ": output = \"device\" needs device = \"cuda\" (the ops must run on the GPU)");
    if (!f32)
      throw ConfigError(p.where("output") +
                        ": output = \"device\" hands the model an f32 tensor: the ops need a "
                        "normalize with dtype = \"f32\"");
    return Access{{col::kImage, col::kIndex}, {col::kInput}};
  };
  k.default_concurrency = 0;
  k.make = [](const Params& p) -> std::unique_ptr<Stage> {
    const std::string output = p.get_string("output");
    return std::make_unique<AugmentStage>(parse_augment_ops(p), p.get_string("device"),
                                          p.stage_id(),
                                          output == "device"  ? AugmentOutput::device
                                          : output == "image" ? AugmentOutput::image
                                                              : AugmentOutput::host);
  };
  return k;
}

}  // namespace ft

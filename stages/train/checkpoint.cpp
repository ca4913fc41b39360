// The `checkpoint` stage: between epochs, every `every` epochs and after the last one, saves the
// training state to <run>/checkpoints/last.ckpt and then epoch_NNN.ckpt as an atomic copy of it
// (a hard link): once any checkpoint exists, last.ckpt exists and is complete, whenever a run is
// killed. It does nothing per batch; it is a stage so the graph declares when checkpoints happen.
#include <fmt/format.h>

#include "stages/stage_shared.hpp"
#include "stages/train/train_stages.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

namespace {

class CheckpointStage final : public Stage {
 public:
  explicit CheckpointStage(const Params& p)
      : every_(static_cast<int>(p.get_int("every"))), keep_(p.get_bool("keep_all")) {}

  void setup(RunContext& ctx) override {
    state_ = TrainState::get(ctx);
    epochs_ = ctx.epochs;
    writer_ = run_rank(ctx) == 0;  // a data-parallel run's processes hold the same state
  }
  void run(Batch&) override {}
  void end_epoch(int epoch) override {
    if (!writer_ || !state_->has_model() || (epoch % every_ != 0 && epoch != epochs_)) return;
    const std::string dir = state_->checkpoint_dir();
    std::vector<std::string> copies;
    if (keep_) copies.push_back(fmt::format("{}/epoch_{:03d}.ckpt", dir, epoch));
    state_->save(dir + "/last.ckpt", copies);
  }

 private:
  int every_;
  bool keep_, writer_ = true;
  int epochs_ = 0;
  std::shared_ptr<TrainState> state_;
};

}  // namespace

StageKind checkpoint_kind() {
  StageKind k;
  k.name = "checkpoint";
  k.doc =
      "Saves weights, optimizer, schedule position and config between epochs (atomic, checksummed)";
  k.params = {{.name = "every",
               .type = ParamType::integer,
               .doc = "save every N epochs (and after the last)",
               .default_value = "1",
               .min = 1.0,
               .max = 1e6},
              {.name = "keep_all",
               .type = ParamType::boolean,
               .doc = "keep epoch_NNN.ckpt files besides last.ckpt",
               .default_value = "true"}};
  k.access = [](const Params&) { return Access{}; };
  k.serial = true;
  k.default_splits = {Split::train};
  k.make = [](const Params& p) { return std::make_unique<CheckpointStage>(p); };
  return k;
}

}  // namespace ft

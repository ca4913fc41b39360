// The `train_step` stage (serial, train split): forward, cross-entropy with label smoothing,
// backward, schedule and SGD steps on the shared model. A non-finite loss stops the run naming
// epoch and step; checkpoints are only written between epochs, so the last good one stays intact.
#include <fmt/format.h>

#include <cmath>

#include "kernels/nn/loss.hpp"
#include "pipeline/error.hpp"
#include "stages/train/device_input.hpp"
#include "stages/train/train_stages.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

namespace {

class TrainStep final : public Stage {
 public:
  explicit TrainStep(const Params& p)
      : label_smoothing_(static_cast<float>(p.get_number("label_smoothing"))) {}

  void setup(RunContext& ctx) override {
    state_ = TrainState::get(ctx);
    state_->trained = true;
    state_->label_smoothing = label_smoothing_;
  }
  void begin_pass(const PassInfo& pass) override {
    state_->prepare_schedule(static_cast<std::int64_t>(pass.num_batches));
  }

  void run(Batch& b) override {
    const auto& shape = input_shape(b);
    FT_ASSERT(shape.size() == 4);
    const int n = static_cast<int>(shape[0]);
    if (n == 0) return;
    auto& model = state_->model(static_cast<int>(shape[1]), static_cast<int>(shape[2]),
                                static_cast<int>(shape[3]));
    const int k = model.spec().num_classes;
    check_labels(b, k);
    auto& opt = state_->optimizer();
    state_->apply_schedule(b.epoch, static_cast<std::int64_t>(b.seq));
    model.set_dropout_seed(b.seed, static_cast<std::uint64_t>(state_->step));
    model.zero_grad();
    b.logits.resize({n, k});
    b.loss.resize(static_cast<std::size_t>(n));
    forward_input(model, b, true, b.logits.data.data());
    const double loss = nn::cross_entropy_forward(b.logits.data.data(), b.label.data(), n, k,
                                                  label_smoothing_, b.loss.data());
    if (!std::isfinite(loss))
      throw Error(fmt::format(
          "the training loss is {} at epoch {}, step {} (lr {:.6g}); stopping. Lower the "
          "learning rate or add warmup; checkpoints written so far are intact",
          loss, b.epoch, state_->step + 1, opt.lr()));
    dlogits_.resize(static_cast<std::size_t>(n) * k);
    nn::cross_entropy_backward(dlogits_.data(), b.logits.data.data(), b.label.data(), n, k,
                               label_smoothing_);
    model.backward(dlogits_.data());
    opt.step();
    ++state_->step;
  }

  void end_pass(const PassInfo& pass) override { state_->completed_epochs = pass.epoch; }

 private:
  static void check_labels(const Batch& b, int k) {
    for (std::size_t i = 0; i < b.size(); ++i)
      if (b.label[i] < 0 || b.label[i] >= k)
        throw Error(fmt::format("{} has label {}, outside [0, {}) ([model] num_classes = {})",
                                b.describe(i), b.label[i], k, k));
  }
  float label_smoothing_;
  std::shared_ptr<TrainState> state_;
  std::vector<float> dlogits_;
};

}  // namespace

StageKind train_step_kind() {
  StageKind k;
  k.name = "train_step";
  k.doc =
      "Forward, loss (cross-entropy with label smoothing), backward, schedule and SGD step on the "
      "model";
  k.params = {{.name = "label_smoothing",
               .type = ParamType::number,
               .doc = "label smoothing of the cross-entropy",
               .default_value = "0.0",
               .min = 0.0,
               .max = 1.0}};
  k.access = [](const Params&) {
    return Access{{col::kInput, col::kLabel}, {col::kLogits, col::kLoss}};
  };
  k.serial = true;
  k.default_splits = {Split::train};
  k.make = [](const Params& p) { return std::make_unique<TrainStep>(p); };
  return k;
}

}  // namespace ft

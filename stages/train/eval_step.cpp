// The `eval_step` stage (serial, val and test splits): forward with batch norm in eval mode and no
// gradients; optional horizontal-flip test-time augmentation (logits of the image and its mirror
// averaged). Writes logits, and per-sample loss when the batch is labelled.
#include <fmt/format.h>

#include "kernels/nn/loss.hpp"
#include "pipeline/error.hpp"
#include "stages/train/device_input.hpp"
#include "stages/train/train_stages.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

namespace {

class EvalStep final : public Stage {
 public:
  explicit EvalStep(const Params& p) : tta_hflip_(p.get_bool("tta_hflip")) {}

  void setup(RunContext& ctx) override { state_ = TrainState::get(ctx); }

  void run(Batch& b) override {
    if (tta_hflip_) input_to_host(b);  // the mirror is made on the host
    const auto& shape = input_shape(b);
    FT_ASSERT(shape.size() == 4);
    const int n = static_cast<int>(shape[0]);
    if (n == 0) return;
    const int c = static_cast<int>(shape[1]), h = static_cast<int>(shape[2]),
              w = static_cast<int>(shape[3]);
    auto& model = state_->model(c, h, w);
    const int k = model.spec().num_classes;
    b.logits.resize({n, k});
    forward_input(model, b, false, b.logits.data.data());
    if (tta_hflip_) {
      flipped_.resize(b.input.data.size());
      const float* in = b.input.data.data();
      for (std::size_t row = 0; row < static_cast<std::size_t>(n) * c * h; ++row)
        for (int x = 0; x < w; ++x) flipped_[row * w + x] = in[row * w + (w - 1 - x)];
      extra_.resize(b.logits.data.size());
      model.forward(flipped_.data(), n, false, extra_.data());
      for (std::size_t i = 0; i < extra_.size(); ++i)
        b.logits.data[i] = 0.5f * (b.logits.data[i] + extra_[i]);
    }
    const bool labelled = !b.label.empty() && b.label[0] >= 0;
    if (labelled) {
      for (std::size_t i = 0; i < b.size(); ++i)
        if (b.label[i] < 0 || b.label[i] >= k)
          throw Error(
              fmt::format("{} has label {}, outside [0, {})", b.describe(i), b.label[i], k));
      b.loss.resize(static_cast<std::size_t>(n));
      nn::cross_entropy_forward(b.logits.data.data(), b.label.data(), n, k, state_->label_smoothing,
                                b.loss.data());
    }
  }

 private:
  bool tta_hflip_;
  std::shared_ptr<TrainState> state_;
  std::vector<float> flipped_, extra_;
};

}  // namespace

StageKind eval_step_kind() {
  StageKind k;
  k.name = "eval_step";
  k.doc =
      "Forward in eval mode (running batch-norm statistics, no gradients); optional hflip "
      "test-time augmentation";
  k.params = {{.name = "tta_hflip",
               .type = ParamType::boolean,
               .doc = "average the logits of each image and its mirror",
               .default_value = "false"}};
  k.access = [](const Params&) { return Access{{col::kInput}, {col::kLogits, col::kLoss}}; };
  k.serial = true;
  k.default_splits = {Split::val, Split::test};
  k.make = [](const Params& p) { return std::make_unique<EvalStep>(p); };
  return k;
}

}  // namespace ft

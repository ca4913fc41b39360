// The `train_step` stage (serial, train split): forward, cross-entropy with label smoothing,
// backward, schedule and SGD steps on the shared model; gradient accumulation over micro-batches;
// in a data-parallel run, the bucketed all-reduce of the gradients (grad_sync.hpp). A non-finite
// loss stops the run naming epoch and step; checkpoints are only written between epochs, so the
// last good one stays intact.
#include <fmt/format.h>

#include <cmath>

#include "kernels/nn/cuda/device.hpp"
#include "kernels/nn/loss.hpp"
#include "pipeline/error.hpp"
#include "stages/stage_shared.hpp"
#include "stages/train/device_input.hpp"
#include "stages/train/grad_sync.hpp"
#include "stages/train/train_stages.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

namespace {

class TrainStep final : public Stage {
 public:
  explicit TrainStep(const Params& p)
      : label_smoothing_(static_cast<float>(p.get_number("label_smoothing"))),
        accumulate_(static_cast<int>(p.get_int("accumulate_steps"))) {}

  void setup(RunContext& ctx) override {
    state_ = TrainState::get(ctx);
    state_->trained = true;
    state_->label_smoothing = label_smoothing_;
    shared_ = &stage_shared(ctx);
    comm_ = shared_->comm;
    dist_ = read_distributed(ctx.config);
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
    if (comm_ && comm_->size() > 1 && !sync_) start_sync(model);
    auto& opt = state_->optimizer();
    state_->apply_schedule(b.epoch, static_cast<std::int64_t>(b.seq));
    model.set_dropout_seed(b.seed, static_cast<std::uint64_t>(state_->step));
    model.zero_grad();
    b.logits.resize({n, k});
    b.loss.resize(static_cast<std::size_t>(n));
    if (accumulate_ == 1) {
      if (sync_) sync_->arm();
      forward_input(model, b, true, b.logits.data.data());
      backward_loss(model, b.logits.data.data(), b.label.data(), n, k, b.loss.data(), b.epoch);
    } else {
      run_micro_batches(model, b, n, k);
    }
    const int world = comm_ ? comm_->size() : 1;
    const float scale = 1.0f / static_cast<float>(world * accumulate_);
    if (sync_)
      sync_->finish(scale);
    else if (accumulate_ > 1)
      scale_grads(model, scale);
    b.trained_lr = opt.lr();
    opt.step();
    b.trained_step = ++state_->step;
  }

  void end_pass(const PassInfo& pass) override {
    state_->completed_epochs = pass.epoch;
    if (sync_) shared_->comm_stats = sync_->stats();
  }

 private:
  // Loss and backward of one (micro-)batch; a non-finite loss stops the run.
  void backward_loss(nn::Model& model, const float* logits, const std::int32_t* labels, int n,
                     int k, float* loss_out, int epoch) {
    const double loss = nn::cross_entropy_forward(logits, labels, n, k, label_smoothing_, loss_out);
    if (!std::isfinite(loss))
      throw Error(fmt::format(
          "the training loss is {} at epoch {}, step {} (lr {:.6g}); stopping. Lower the "
          "learning rate or add warmup; checkpoints written so far are intact",
          loss, epoch, state_->step + 1, state_->optimizer().lr()));
    dlogits_.resize(static_cast<std::size_t>(n) * k);
    nn::cross_entropy_backward(dlogits_.data(), logits, labels, n, k, label_smoothing_);
    model.backward(dlogits_.data());
  }

  // Gradient accumulation: micro-batch m takes samples m, m + A, m + 2A, ... of the batch (the
  // same split data-parallel processes make of a global batch, so A micro-batches on one process
  // give the gradients of A processes bit for bit). Gradients add up in Parameter::grad; the
  // all-reduce runs only after the last micro-batch (DDP's no_sync for the others).
  void run_micro_batches(nn::Model& model, Batch& b, int n, int k) {
    input_to_host(b);
    const auto per_sample = static_cast<std::size_t>(b.input.numel() / static_cast<std::size_t>(n));
    for (int m = 0; m < accumulate_; ++m) {
      rows_.clear();
      for (int i = m; i < n; i += accumulate_) rows_.push_back(i);
      const int mn = static_cast<int>(rows_.size());
      if (mn == 0) continue;
      micro_input_.resize(static_cast<std::size_t>(mn) * per_sample);
      micro_labels_.resize(static_cast<std::size_t>(mn));
      for (int j = 0; j < mn; ++j) {
        std::copy_n(b.input.data.data() + static_cast<std::size_t>(rows_[j]) * per_sample,
                    per_sample, micro_input_.data() + static_cast<std::size_t>(j) * per_sample);
        micro_labels_[j] = b.label[rows_[j]];
      }
      micro_logits_.resize(static_cast<std::size_t>(mn) * k);
      micro_loss_.resize(static_cast<std::size_t>(mn));
      const auto& s = b.input.shape;
      model.forward(micro_input_.data(), mn, static_cast<int>(s[2]), static_cast<int>(s[3]), true,
                    micro_logits_.data());
      if (sync_ && m == accumulate_ - 1) sync_->arm();
      backward_loss(model, micro_logits_.data(), micro_labels_.data(), mn, k, micro_loss_.data(),
                    b.epoch);
      for (int j = 0; j < mn; ++j) {
        std::copy_n(micro_logits_.data() + static_cast<std::size_t>(j) * k, k,
                    b.logits.data.data() + static_cast<std::size_t>(rows_[j]) * k);
        b.loss[rows_[j]] = micro_loss_[j];
      }
    }
  }

  static void scale_grads(nn::Model& model, float s) {
    if (model.on_device()) return nn::cuda::scale_grads(model.parameters(), s);
    for (nn::Parameter* p : model.parameters())
      for (float& g : p->grad) g *= s;
  }

  // The run's communicator is NCCL when the model is on a GPU (cli/processes.cpp).
  void start_sync(nn::Model& model) {
    sync_ =
        std::make_unique<GradSync>(*comm_, model.parameters(), dist_.bucket_mb, model.on_device());
    model.set_grads_ready(
        [s = sync_.get()](std::size_t first, std::size_t last) { s->grads_ready(first, last); });
  }

  static void check_labels(const Batch& b, int k) {
    for (std::size_t i = 0; i < b.size(); ++i)
      if (b.label[i] < 0 || b.label[i] >= k)
        throw Error(fmt::format("{} has label {}, outside [0, {}) ([model] num_classes = {})",
                                b.describe(i), b.label[i], k, k));
  }
  float label_smoothing_;
  int accumulate_;
  std::shared_ptr<TrainState> state_;
  std::shared_ptr<dist::Comm> comm_;
  DistributedConfig dist_;
  StageShared* shared_ = nullptr;
  std::unique_ptr<GradSync> sync_;
  std::vector<float> dlogits_, micro_input_, micro_logits_, micro_loss_;
  std::vector<std::int32_t> micro_labels_;
  std::vector<int> rows_;
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
               .max = 1.0},
              {.name = "accumulate_steps",
               .type = ParamType::integer,
               .doc = "gradient accumulation: split each batch into this many micro-batches "
                      "(sample i goes to micro-batch i mod N), one optimizer step per batch; "
                      "a large batch on a small device",
               .default_value = "1",
               .min = 1.0,
               .max = 1024.0}};
  k.access = [](const Params&) {
    return Access{{col::kInput, col::kLabel}, {col::kLogits, col::kLoss}};
  };
  k.serial = true;
  k.default_splits = {Split::train};
  k.make = [](const Params& p) { return std::make_unique<TrainStep>(p); };
  return k;
}

}  // namespace ft

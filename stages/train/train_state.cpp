// TrainState: the model, optimizer and schedule built from the validated config (checkpoints in
// train_state_checkpoint.cpp).
#include "stages/train/train_state.hpp"

#include <fmt/format.h>

#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "stages/stage_shared.hpp"
#include "stages/train/grad_sync.hpp"
#include "stages/train/model_config.hpp"
#include "stages/train/optim_config.hpp"

namespace ft {
namespace {

// The layers for [run] device and precision. bf16 on the CPU needs bf16 instructions (the refusal
// names the key); on cuda it runs on any GPU cuDNN supports (tensor cores from Ampere on).
bool bf16_precision(const RunContext& ctx) {
  static const toml::table empty;
  const toml::table& root = ctx.config ? *ctx.config : empty;
  return root["run"]["precision"].value_or(std::string("f32")) == "bf16";
}

const nn::LayerFactory& layer_factory(const RunContext& ctx) {
  const nn::Precision precision = bf16_precision(ctx) ? nn::Precision::bf16 : nn::Precision::f32;
  try {
    return ctx.device == "cuda" ? nn::cuda_layers(precision) : nn::cpu_layers(true, precision);
  } catch (const std::runtime_error& e) {
    // cuda: no CUDA build or no device; cpu: bf16 without bf16 instructions (names the key).
    throw Error(fmt::format("{}: {} {}", ctx.config_file,
                            ctx.device == "cuda" ? "[model] on cuda:" : "[run]", e.what()));
  }
}

}  // namespace

std::shared_ptr<TrainState> TrainState::get(RunContext& ctx) {
  auto& s = stage_shared(ctx).train;
  if (!s) s = std::shared_ptr<TrainState>(new TrainState(ctx));
  return s;
}

TrainState::TrainState(RunContext& ctx) : ctx_(ctx) {
  static const toml::table empty;
  const toml::table& root = ctx.config ? *ctx.config : empty;
  const Params model = model_params(root, ctx.config_file);
  spec_ = read_model_spec(model);
  spec_.init_seed = ctx.seed;
  if (model.has("init_from")) init_from_ = model.get_string("init_from");
  const OptimConfig c = read_optim_config(root, ctx.config_file);
  sgd_options_ = c.sgd;
  schedule_spec_ = c.schedule;
  schedule_per_step_ = c.per_step;
  warmup_epochs_ = c.warmup_epochs;
  start_epoch_ = c.start_epoch;

  if (!ctx.resume_path.empty()) load_resume(ctx.resume_path);
}

nn::Model& TrainState::model(int c, int h, int w) {
  if (model_) return *model_;
  spec_.in_channels = c;
  spec_.height = h;
  spec_.width = w;
  const nn::LayerFactory& layers = layer_factory(ctx_);
  try {
    layers_ = distributed_layers(read_distributed(ctx_.config), stage_shared(ctx_).comm, layers);
    model_ = nn::make_model(spec_, layers_ ? *layers_ : layers);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: [model]: {}", ctx_.config_file, e.what()));
  } catch (const std::runtime_error& e) {
    throw Error(fmt::format("{}: [model] on {}: {}", ctx_.config_file, ctx_.device, e.what()));
  }
  if (layers_ && !layers.on_device() && bf16_precision(ctx_))
    throw ConfigError(fmt::format(
        "{}: [distributed] sync_batchnorm = true reduces f32 batch-norm inputs, but with [run] "
        "precision = \"bf16\" on the CPU they are bf16; set one of them back (not supported "
        "together yet)",
        ctx_.config_file));
  // OpenMP's thread count is per calling thread: the model sets it on whichever TBB worker runs it.
  model_->set_num_threads(ctx_.omp_threads);
  if (!init_from_.empty()) load_weights(init_from_, "[model] init_from");
  return *model_;
}

optim::Sgd& TrainState::optimizer() {
  FT_ASSERT(model_);
  if (!sgd_) sgd_ = std::make_unique<optim::Sgd>(model_->parameters(), sgd_options_);
  return *sgd_;
}

void TrainState::prepare_schedule(std::int64_t steps_per_epoch) {
  if (schedule_ && steps_per_epoch_ == steps_per_epoch) return;
  steps_per_epoch_ = steps_per_epoch;
  auto spec = schedule_spec_;
  if (warmup_epochs_ > 0)
    spec.warmup_steps = schedule_per_step_
                            ? static_cast<std::int64_t>(warmup_epochs_ * steps_per_epoch + 0.5)
                            : static_cast<std::int64_t>(warmup_epochs_ + 0.5);
  const std::int64_t total =
      optim::schedule_steps(ctx_.epochs + start_epoch_, steps_per_epoch, schedule_per_step_);
  try {
    schedule_ = optim::make_schedule(spec, sgd_options_.lr, sgd_options_.momentum, total);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: [schedule]: {}", ctx_.config_file, e.what()));
  }
}

void TrainState::apply_schedule(int epoch, std::int64_t iteration) {
  FT_ASSERT(schedule_);
  const std::int64_t idx = optim::schedule_index(epoch - 1 + start_epoch_, iteration,
                                                 steps_per_epoch_, schedule_per_step_);
  auto& opt = optimizer();
  opt.set_lr(schedule_->lr(idx));
  if (auto m = schedule_->momentum(idx)) opt.set_momentum(*m);
}

std::vector<optim::ScheduleRow> TrainState::schedule_rows(bool every_step) const {
  FT_ASSERT(schedule_);
  // The whole schedule from its start, less the epochs before this run (start_epoch).
  auto rows = optim::schedule_table(*schedule_, ctx_.epochs + start_epoch_, steps_per_epoch_,
                                    schedule_per_step_, every_step);
  std::erase_if(rows, [&](const optim::ScheduleRow& r) { return r.epoch < start_epoch_; });
  for (auto& r : rows) {
    r.epoch -= start_epoch_;
    r.step -= start_epoch_ * steps_per_epoch_;
  }
  return rows;
}

std::string TrainState::describe_schedule() const {
  FT_ASSERT(schedule_);
  return schedule_->describe();
}

double TrainState::lr() const { return sgd_ ? sgd_->lr() : sgd_options_.lr; }

}  // namespace ft

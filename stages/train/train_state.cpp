// TrainState: the model, optimizer and schedule built from the validated config, and checkpoints.
#include "stages/train/train_state.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "kernels/optim/checkpoint.hpp"
#include "kernels/optim/training_state.hpp"
#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "stages/train/model_config.hpp"
#include "stages/train/optim_config.hpp"

namespace ft {

std::shared_ptr<TrainState> TrainState::get(RunContext& ctx) {
  auto s = ctx.shared<TrainState>("train_state");
  if (!s) {
    s = std::shared_ptr<TrainState>(new TrainState(ctx));
    ctx.set_shared("train_state", s);
  }
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

  if (!ctx.resume_path.empty()) load_resume(ctx.resume_path);
}

nn::Model& TrainState::model(int c, int h, int w) {
  if (model_) return *model_;
  spec_.in_channels = c;
  spec_.height = h;
  spec_.width = w;
  try {
    model_ =
        nn::make_model(spec_, ctx_.device == "cuda" ? nn::cuda_layers() : nn::cpu_layers(true));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: [model]: {}", ctx_.config_file, e.what()));
  } catch (const std::runtime_error& e) {
    throw Error(fmt::format("{}: [model] on {}: {}", ctx_.config_file, ctx_.device, e.what()));
  }
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
      optim::schedule_steps(ctx_.epochs, steps_per_epoch, schedule_per_step_);
  try {
    schedule_ = optim::make_schedule(spec, sgd_options_.lr, sgd_options_.momentum, total);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: [schedule]: {}", ctx_.config_file, e.what()));
  }
}

void TrainState::apply_schedule(int epoch, std::int64_t iteration) {
  FT_ASSERT(schedule_);
  const std::int64_t idx =
      optim::schedule_index(epoch - 1, iteration, steps_per_epoch_, schedule_per_step_);
  auto& opt = optimizer();
  opt.set_lr(schedule_->lr(idx));
  if (auto m = schedule_->momentum(idx)) opt.set_momentum(*m);
}

std::vector<optim::ScheduleRow> TrainState::schedule_rows(bool every_step) const {
  FT_ASSERT(schedule_);
  return optim::schedule_table(*schedule_, ctx_.epochs, steps_per_epoch_, schedule_per_step_,
                               every_step);
}

std::string TrainState::describe_schedule() const {
  FT_ASSERT(schedule_);
  return schedule_->describe();
}

double TrainState::lr() const { return sgd_ ? sgd_->lr() : sgd_options_.lr; }

std::string TrainState::checkpoint_dir() const { return (ctx_.run_dir / "checkpoints").string(); }

void TrainState::save(const std::string& path, const std::vector<std::string>& copies) const {
  FT_ASSERT(model_);
  optim::RunState run;
  run.epoch = completed_epochs;
  run.step = step;
  run.schedule_step =
      schedule_ ? optim::schedule_index(completed_epochs, 0, steps_per_epoch_, schedule_per_step_)
                : 0;
  run.seed = static_cast<std::int64_t>(ctx_.seed);
  if (ctx_.config) run.config = to_toml_text(*ctx_.config);
  if (schedule_) run.schedule = schedule_->describe();
  run.optimizer = optim::describe(sgd_options_);
  model_->to_host();  // a GPU model's weights and running statistics into the host mirrors
  // The optimizer exists once a step ran; a model saved before that has fresh optimizer state.
  optim::Sgd fresh(model_->parameters(), sgd_options_);
  optim::Checkpoint ck = optim::make_training_checkpoint(model_->parameters(), model_->buffers(),
                                                         sgd_ ? *sgd_ : fresh, run);
  // What rebuilds the model on --resume before its tensors are restored.
  ck.strings["arch.kind"] = spec_.kind;
  ck.ints["arch.in_channels"] = spec_.in_channels;
  ck.ints["arch.height"] = spec_.height;
  ck.ints["arch.width"] = spec_.width;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  // A diverged state would replace the last good checkpoint with one no run can resume from.
  if (const std::string bad = optim::non_finite_text(ck); !bad.empty())
    throw Error(
        fmt::format("not saving {} after epoch {}: the {}; training diverged (lower the "
                    "learning rate or add warmup); the checkpoints already written are "
                    "intact",
                    path, completed_epochs, bad));
  try {
    optim::save_checkpoint(ck, path, {copies.begin(), copies.end()});
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

void TrainState::load_weights(const std::string& path, const char* what) {
  try {
    const optim::Checkpoint ck = optim::load_checkpoint(path);
    optim::unpack_model(ck, model_->parameters(), model_->buffers());
    model_->to_device();
  } catch (const std::exception& e) {
    throw Error(fmt::format("{} {}: {}", what, path, e.what()));
  }
}

void TrainState::load_resume(const std::string& path) {
  try {
    // `flowtrain run` loads and checks the checkpoint before it touches the run folder and hands
    // it over; other callers (tests) have it read here.
    auto given = ctx_.shared<ResumeSource>("resume");
    optim::Checkpoint loaded;
    if (!given) loaded = optim::load_checkpoint(path);
    const optim::Checkpoint& ck = given ? given->checkpoint : loaded;
    if (ck.string_value("arch.kind") != spec_.kind)
      throw std::runtime_error(fmt::format("it holds a '{}' model but [model] kind is '{}'",
                                           ck.string_value("arch.kind"), spec_.kind));
    if (static_cast<std::uint64_t>(ck.int_value("run.seed")) != ctx_.seed)
      throw std::runtime_error(
          fmt::format("it was made with seed {} but [run] seed is {}; resuming would not "
                      "continue the same random stream",
                      ck.int_value("run.seed"), ctx_.seed));
    model(static_cast<int>(ck.int_value("arch.in_channels")),
          static_cast<int>(ck.int_value("arch.height")),
          static_cast<int>(ck.int_value("arch.width")));
    // Checks everything against the model and optimizer before changing anything.
    const optim::RunState run = optim::restore_training_checkpoint(ck, model_->parameters(),
                                                                   model_->buffers(), optimizer());
    model_->to_device();
    step = run.step;
    completed_epochs = static_cast<int>(run.epoch);
    ctx_.set_shared<ResumeSource>("resume", nullptr);  // restored: its memory can go
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("--resume {}: {}", path, e.what()));
  }
  ctx_.start_epoch = completed_epochs + 1;
}

}  // namespace ft

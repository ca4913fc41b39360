// TrainState's checkpoints: save (refusing a diverged state), the weights of [model] init_from
// (a checkpoint or a .safetensors file) and --resume's full restore (checked against the model
// and optimizer before anything changes).
#include <fmt/format.h>

#include <filesystem>

#include "kernels/optim/checkpoint.hpp"
#include "kernels/optim/safetensors.hpp"
#include "kernels/optim/training_state.hpp"
#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "stages/stage_shared.hpp"
#include "stages/train/train_state.hpp"

namespace ft {

TrainState::PassState TrainState::take_resumed_pass_state(const std::string& prefix) {
  PassState out;
  for (auto it = resumed_pass_state_.lower_bound(prefix);
       it != resumed_pass_state_.end() && it->first.rfind(prefix, 0) == 0;)
    out.insert(resumed_pass_state_.extract(it++));
  return out;
}

std::string TrainState::checkpoint_dir() const { return (ctx_.run_dir / "checkpoints").string(); }

void TrainState::save(const std::string& path, const std::vector<std::string>& copies,
                      std::int64_t epoch_batches) const {
  FT_ASSERT(model_);
  optim::RunState run;
  run.epoch = completed_epochs;
  run.epoch_batches = epoch_batches;
  run.step = step;
  run.schedule_step = schedule_
                          ? optim::schedule_index(completed_epochs + start_epoch_, epoch_batches,
                                                  steps_per_epoch_, schedule_per_step_)
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
  if (epoch_batches > 0) {
    PassState pass;
    for (const auto& saver : pass_savers_) saver(pass);
    for (const auto& [key, value] : pass) ck.ints["pass." + key] = value;
  }
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
    // A .safetensors file (flowtrain export, or PyTorch's state_dict saved elsewhere) holds the
    // weights under the same names as a checkpoint's model tensors.
    const optim::Checkpoint ck = std::filesystem::path(path).extension() == ".safetensors"
                                     ? optim::safetensors_as_checkpoint(path)
                                     : optim::load_checkpoint(path);
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
    auto given = stage_shared(ctx_).resume;
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
    ctx_.start_batch = static_cast<std::size_t>(run.epoch_batches);
    for (const auto& [key, value] : ck.ints)
      if (key.rfind("pass.", 0) == 0) resumed_pass_state_[key.substr(5)] = value;
    stage_shared(ctx_).resume = nullptr;  // restored: its memory can go
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("--resume {}: {}", path, e.what()));
  }
  ctx_.start_epoch = completed_epochs + 1;
}

}  // namespace ft

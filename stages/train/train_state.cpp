// TrainState: model/optimizer/schedule construction from the config, and checkpoints.
#include "stages/train/train_state.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "kernels/optim/checkpoint.hpp"
#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "pipeline/registry.hpp"

namespace ft {

namespace {

const toml::table& section(const RunContext& ctx, const char* name) {
  static const toml::table empty;
  if (!ctx.config) return empty;
  auto* t = (*ctx.config)[name].as_table();
  return t ? *t : empty;
}

template <class T>
T value_of(const toml::table& t, const char* key, T fallback) {
  return t[key].value_or(fallback);
}

std::vector<int> int_list(const toml::table& t, const char* key, std::vector<int> fallback) {
  auto* a = t[key].as_array();
  if (!a) return fallback;
  std::vector<int> out;
  for (auto& e : *a) out.push_back(static_cast<int>(e.value_or<std::int64_t>(0)));
  return out;
}

}  // namespace

std::shared_ptr<TrainState> TrainState::get(RunContext& ctx) {
  auto s = ctx.shared<TrainState>("train_state");
  if (!s) {
    s = std::shared_ptr<TrainState>(new TrainState(ctx));
    ctx.set_shared("train_state", s);
  }
  return s;
}

TrainState::TrainState(RunContext& ctx) : ctx_(ctx) {
  const auto& m = section(ctx, "model");
  spec_.kind = value_of<std::string>(m, "kind", "resnet_small");
  spec_.num_classes = static_cast<int>(value_of<std::int64_t>(m, "num_classes", 10));
  spec_.init_seed = ctx.seed;
  spec_.blocks = static_cast<int>(value_of<std::int64_t>(m, "blocks", 6));
  spec_.base_width = static_cast<int>(value_of<std::int64_t>(m, "base_width", 32));
  spec_.dropout = static_cast<float>(value_of<double>(m, "dropout", 0.0));
  spec_.zero_init_residual = value_of<bool>(m, "zero_init_residual", false);
  spec_.widths = int_list(m, "widths", spec_.widths);
  spec_.stage_blocks = int_list(m, "stage_blocks", spec_.stage_blocks);
  init_from_ = value_of<std::string>(m, "init_from", "");

  const auto& o = section(ctx, "optimizer");
  sgd_options_.lr = value_of<double>(o, "lr", 0.1);
  sgd_options_.momentum = value_of<double>(o, "momentum", 0.9);
  sgd_options_.dampening = value_of<double>(o, "dampening", 0.0);
  sgd_options_.nesterov = value_of<bool>(o, "nesterov", false);
  sgd_options_.weight_decay = value_of<double>(o, "weight_decay", 0.0);
  sgd_options_.max_grad_norm = value_of<double>(o, "max_grad_norm", 0.0);
  if (auto* a = o["no_decay"].as_array())
    for (auto& e : *a) {
      const std::string v = e.value_or<std::string>("");
      if (v == "bias") sgd_options_.no_decay_bias = true;
      if (v == "batchnorm") sgd_options_.no_decay_norm = true;
    }

  const auto& s = section(ctx, "schedule");
  try {
    schedule_spec_.kind = optim::parse_schedule_kind(value_of<std::string>(s, "kind", "constant"));
    if (auto* v = s.get("mode")) schedule_spec_.mode = optim::parse_cyclic_mode(v->value_or<std::string>(""));
    if (auto* v = s.get("anneal")) schedule_spec_.anneal = optim::parse_anneal(v->value_or<std::string>(""));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: [schedule]: {}", ctx.config_file, e.what()));
  }
  schedule_per_step_ = value_of<std::string>(s, "per", "step") == "step";
  auto& sp = schedule_spec_;
  sp.step_size = value_of<std::int64_t>(s, "step_size", 0);
  for (int v : int_list(s, "milestones", {})) sp.milestones.push_back(v);
  if (s.contains("gamma")) sp.gamma = value_of<double>(s, "gamma", 0.1);
  sp.t_max = value_of<std::int64_t>(s, "t_max", 0);
  sp.eta_min = value_of<double>(s, "eta_min", 0.0);
  sp.t_0 = value_of<std::int64_t>(s, "t_0", 0);
  sp.t_mult = value_of<std::int64_t>(s, "t_mult", 1);
  if (s.contains("base_lr")) sp.base_lr = value_of<double>(s, "base_lr", 0.0);
  if (s.contains("max_lr")) sp.max_lr = value_of<double>(s, "max_lr", 0.0);
  sp.step_size_up = value_of<double>(s, "step_size_up", 2000.0);
  if (s.contains("step_size_down")) sp.step_size_down = value_of<double>(s, "step_size_down", 0.0);
  sp.cycle_momentum = value_of<bool>(s, "cycle_momentum", true);
  if (s.contains("base_momentum")) sp.base_momentum = value_of<double>(s, "base_momentum", 0.0);
  if (s.contains("max_momentum")) sp.max_momentum = value_of<double>(s, "max_momentum", 0.0);
  sp.onecycle_total_steps = value_of<std::int64_t>(s, "total_steps", 0);
  sp.pct_start = value_of<double>(s, "pct_start", 0.3);
  sp.div_factor = value_of<double>(s, "div_factor", 25.0);
  sp.final_div_factor = value_of<double>(s, "final_div_factor", 1e4);
  sp.three_phase = value_of<bool>(s, "three_phase", false);
  sp.warmup_start_factor = value_of<double>(s, "warmup_start_factor", 1.0 / 3.0);

  if (!ctx.resume_path.empty()) load_resume(ctx.resume_path);
}

nn::Model& TrainState::model(int c, int h, int w) {
  if (model_) return *model_;
  spec_.in_channels = c;
  spec_.height = h;
  spec_.width = w;
  try {
    model_ = nn::make_model(spec_);
  } catch (const std::exception& e) {
    throw ConfigError(fmt::format("{}: [model]: {}", ctx_.config_file, e.what()));
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
  const auto& s = section(ctx_, "schedule");
  auto spec = schedule_spec_;
  const double warmup_epochs = value_of<double>(s, "warmup_epochs", 0.0);
  spec.warmup_steps = value_of<std::int64_t>(s, "warmup_steps", 0);
  if (warmup_epochs > 0)
    spec.warmup_steps = schedule_per_step_ ? static_cast<std::int64_t>(warmup_epochs * steps_per_epoch + 0.5)
                                           : static_cast<std::int64_t>(warmup_epochs + 0.5);
  const std::int64_t total = optim::schedule_steps(ctx_.epochs, steps_per_epoch, schedule_per_step_);
  try {
    schedule_ = optim::make_schedule(spec, sgd_options_.lr, sgd_options_.momentum, total);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: [schedule]: {}", ctx_.config_file, e.what()));
  }
}

void TrainState::apply_schedule(int epoch, std::int64_t iteration) {
  FT_ASSERT(schedule_);
  const std::int64_t idx = optim::schedule_index(epoch - 1, iteration, steps_per_epoch_, schedule_per_step_);
  auto& opt = optimizer();
  opt.set_lr(schedule_->lr(idx));
  if (auto m = schedule_->momentum(idx)) opt.set_momentum(*m);
}

std::vector<optim::ScheduleRow> TrainState::schedule_rows(bool every_step) const {
  FT_ASSERT(schedule_);
  return optim::schedule_table(*schedule_, ctx_.epochs, steps_per_epoch_, schedule_per_step_, every_step);
}

std::string TrainState::describe_schedule() const {
  FT_ASSERT(schedule_);
  return schedule_->describe();
}

double TrainState::lr() const { return sgd_ ? sgd_->lr() : sgd_options_.lr; }

std::string TrainState::checkpoint_dir() const { return (ctx_.run_dir / "checkpoints").string(); }

void TrainState::save(const std::string& path) const {
  FT_ASSERT(model_);
  optim::Checkpoint ck;
  optim::pack_model(ck, model_->parameters(), model_->buffers());
  if (sgd_) sgd_->save_state(ck);
  ck.ints["run.step"] = step;
  ck.ints["run.completed_epochs"] = completed_epochs;
  ck.ints["run.seed"] = static_cast<std::int64_t>(ctx_.seed);
  ck.ints["model.in_channels"] = spec_.in_channels;
  ck.ints["model.height"] = spec_.height;
  ck.ints["model.width"] = spec_.width;
  ck.strings["model.kind"] = spec_.kind;
  if (ctx_.config) ck.strings["run.config"] = to_toml_text(*ctx_.config);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  try {
    optim::save_checkpoint(ck, path);
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

void TrainState::load_weights(const std::string& path, const char* what) {
  try {
    const optim::Checkpoint ck = optim::load_checkpoint(path);
    optim::unpack_model(ck, model_->parameters(), model_->buffers());
  } catch (const std::exception& e) {
    throw Error(fmt::format("{} {}: {}", what, path, e.what()));
  }
}

void TrainState::load_resume(const std::string& path) {
  optim::Checkpoint ck;
  try {
    ck = optim::load_checkpoint(path);
    if (ck.string_value("model.kind") != spec_.kind)
      throw std::runtime_error(fmt::format("it holds a '{}' model but [model] kind is '{}'",
                                           ck.string_value("model.kind"), spec_.kind));
    if (static_cast<std::uint64_t>(ck.int_value("run.seed")) != ctx_.seed)
      throw std::runtime_error(fmt::format("it was made with seed {} but [run] seed is {}; resuming would not "
                                           "continue the same random stream", ck.int_value("run.seed"), ctx_.seed));
    model(static_cast<int>(ck.int_value("model.in_channels")), static_cast<int>(ck.int_value("model.height")),
          static_cast<int>(ck.int_value("model.width")));
    optim::unpack_model(ck, model_->parameters(), model_->buffers());
    optimizer().load_state(ck);
    step = ck.int_value("run.step");
    completed_epochs = static_cast<int>(ck.int_value("run.completed_epochs"));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(fmt::format("--resume {}: {}", path, e.what()));
  }
  ctx_.start_epoch = completed_epochs + 1;
}

void register_train_sections(Registry& r) {
  using T = ParamType;
  r.add_section({"model", "The network: kind and its parameters.",
                 {{"kind", T::string, "network", "\"resnet_small\"", false, {}, {},
                   {"resnet_small", "mini_resnet", "resnet18", "resnet34", "resnet50", "resnext50_32x4d"}},
                  {"num_classes", T::integer, "output classes", "10", false, 1.0},
                  {"blocks", T::integer, "mini_resnet: number of blocks", "6", false, 1.0, 12.0},
                  {"base_width", T::integer, "mini_resnet: width of block 0 (doubles per block)", "32", false, 1.0},
                  {"dropout", T::number, "mini_resnet: dropout before each head Linear", "0.0", false, 0.0, 1.0},
                  {"zero_init_residual", T::boolean, "resnets: zero the last BN of each residual branch", "false"},
                  {"widths", T::integer_list, "resnet_small: width of each stage", "[16, 32, 64]", false, 1.0},
                  {"stage_blocks", T::integer_list, "resnet_small: BasicBlocks per stage", "[1, 1, 1]", false, 1.0},
                  {"init_from", T::string, "start from this checkpoint's weights (new optimizer and schedule)", "",
                   true}}});
  r.add_section({"optimizer", "SGD as torch.optim.SGD.",
                 {{"kind", T::string, "optimizer", "\"sgd\"", false, {}, {}, {"sgd"}},
                  {"lr", T::number, "base learning rate", "0.1", false, 0.0},
                  {"momentum", T::number, "momentum", "0.9", false, 0.0, 1.0},
                  {"dampening", T::number, "dampening", "0.0", false, 0.0, 1.0},
                  {"nesterov", T::boolean, "Nesterov momentum", "false"},
                  {"weight_decay", T::number, "L2 weight decay", "0.0", false, 0.0},
                  {"no_decay", T::string_list, "parameter groups without weight decay: bias, batchnorm", "[]"},
                  {"max_grad_norm", T::number, "clip gradients to this global norm (0 = off)", "0.0", false, 0.0}}});
  r.add_section(
      {"schedule", "Learning-rate schedule (torch.optim.lr_scheduler values), with an optional linear warmup.",
       {{"kind", T::string, "schedule", "\"constant\"", false, {}, {},
         {"constant", "step", "multistep", "exponential", "cyclic", "onecycle", "cosine", "cosine_restarts"}},
        {"per", T::string, "step the schedule per iteration or per epoch (lengths in that unit)", "\"step\"", false,
         {}, {}, {"step", "epoch"}},
        {"warmup_epochs", T::number, "linear warmup length in epochs", "0.0", false, 0.0},
        {"warmup_steps", T::integer, "linear warmup length in scheduler steps", "0", false, 0.0},
        {"warmup_start_factor", T::number, "warmup starts at lr x this", "0.3333333333333333", false, 0.0, 1.0},
        {"step_size", T::integer, "step: decay every N scheduler steps", "0", false, 0.0},
        {"milestones", T::integer_list, "multistep: decay at these scheduler steps", "[]"},
        {"gamma", T::number, "decay factor (step, multistep, exponential, exp_range)", "", true, 0.0},
        {"t_max", T::integer, "cosine: period (0 = the rest of the run)", "0", false, 0.0},
        {"eta_min", T::number, "cosine, cosine_restarts: minimum lr", "0.0", false, 0.0},
        {"t_0", T::integer, "cosine_restarts: first period", "0", false, 0.0},
        {"t_mult", T::integer, "cosine_restarts: period growth", "1", false, 1.0},
        {"base_lr", T::number, "cyclic: lower lr (default: [optimizer] lr)", "", true, 0.0},
        {"max_lr", T::number, "cyclic: upper lr; onecycle: peak (default: [optimizer] lr)", "", true, 0.0},
        {"step_size_up", T::number, "cyclic: steps up", "2000.0", false, 1.0},
        {"step_size_down", T::number, "cyclic: steps down (default: step_size_up)", "", true, 1.0},
        {"mode", T::string, "cyclic mode", "\"triangular\"", false, {}, {}, {"triangular", "triangular2", "exp_range"}},
        {"cycle_momentum", T::boolean, "cyclic, onecycle: cycle momentum inversely to lr", "true"},
        {"base_momentum", T::number, "cyclic: 0.8, onecycle: 0.85 by default", "", true, 0.0, 1.0},
        {"max_momentum", T::number, "cyclic: 0.9, onecycle: 0.95 by default", "", true, 0.0, 1.0},
        {"total_steps", T::integer, "onecycle: length (0 = the rest of the run)", "0", false, 0.0},
        {"pct_start", T::number, "onecycle: fraction of the cycle spent increasing", "0.3", false, 0.0, 1.0},
        {"anneal", T::string, "onecycle: annealing", "\"cos\"", false, {}, {}, {"cos", "linear"}},
        {"div_factor", T::number, "onecycle: initial lr = max_lr / div_factor", "25.0", false, 1.0},
        {"final_div_factor", T::number, "onecycle: final lr = initial / final_div_factor", "10000.0", false, 1.0},
        {"three_phase", T::boolean, "onecycle: three phases", "false"}}});
}

}  // namespace ft

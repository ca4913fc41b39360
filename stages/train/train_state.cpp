// TrainState: model/optimizer/schedule construction from the config, and checkpoints.
#include "stages/train/train_state.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "kernels/nn/cuda/device.hpp"
#include "kernels/optim/checkpoint.hpp"
#include "kernels/optim/config_fields.hpp"
#include "kernels/optim/training_state.hpp"
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

// Keys of [schedule] that are about how the run steps the schedule, not the schedule itself.
bool is_schedule_run_key(const std::string& key) {
  return key == "per" || key == "warmup_epochs" || key == "warmup_steps" ||
         key == "warmup_start_factor";
}

const optim::FieldDoc* find_field(const std::vector<optim::FieldDoc>& fields,
                                  const std::string& key) {
  for (const auto& f : fields)
    if (key == f.key) return &f;
  return nullptr;
}

// TOML value -> the optim field variant, by the field's declared type (validation already
// checked the TOML type against the same table).
optim::FieldValue field_value(const toml::node& n, const optim::FieldDoc& f) {
  const std::string type = f.type;
  if (type == "bool") return n.value_or(false);
  if (type == "int") return n.value_or<std::int64_t>(0);
  // An integer beyond 2^53 in a float key: toml++'s value_or(0.0) would give 0 silently.
  if (type == "float")
    return n.is_integer() ? static_cast<double>(*n.value_exact<std::int64_t>()) : n.value_or(0.0);
  if (type == "string") return n.value_or<std::string>("");
  std::vector<std::int64_t> ints;
  std::vector<std::string> strings;
  if (auto* a = n.as_array())
    for (auto& e : *a) {
      if (type == "int list")
        ints.push_back(e.value_or<std::int64_t>(0));
      else
        strings.push_back(e.value_or<std::string>(""));
    }
  if (type == "int list") return ints;
  return strings;
}

// "file:line:col" of a config value, or "file (--set)" for one an override made.
std::string where_of(const toml::node& v, const std::string& file) {
  const auto& src = v.source();
  return src.begin.line > 0 && !(src.path && *src.path == kOverrideSource)
             ? fmt::format("{}:{}:{}", file, src.begin.line, src.begin.column)
             : file + " (--set)";
}

template <class Setter>
void set_field(const std::string& file, const toml::node& v, const char* table,
               const std::string& key, Setter set, const std::vector<optim::FieldDoc>& fields) {
  const auto* f = find_field(fields, key);
  const std::string where = where_of(v, file);
  try {
    if (!f) throw std::invalid_argument("unknown key");
    set(field_value(v, *f));
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: [{}] key '{}': {}", where, table, key, e.what()));
  }
}

// A schema entry from an optim field: its default when that is a TOML value, else optional with
// the default described in the doc.
ParamSpec spec_of(const optim::FieldDoc& f) {
  ParamSpec p;
  p.name = f.key;
  const std::string type = f.type;
  p.type = type == "bool"       ? ParamType::boolean
           : type == "int"      ? ParamType::integer
           : type == "float"    ? ParamType::number
           : type == "string"   ? ParamType::string
           : type == "int list" ? ParamType::integer_list
                                : ParamType::string_list;
  p.doc = f.doc;
  if (*f.applies) p.doc += std::string(" [") + f.applies + "]";
  const std::string d = f.dflt;
  const std::string as_toml =
      p.type == ParamType::string && !d.empty() && d.front() != '"' ? "\"" + d + "\"" : d;
  bool is_value = !d.empty();
  if (is_value) {
    try {
      (void)toml::parse("v = " + as_toml);
    } catch (const toml::parse_error&) {
      is_value = false;
    }
  }
  if (is_value && p.type == ParamType::number && d.find('.') == std::string::npos &&
      d.find('e') == std::string::npos)
    p.default_value = d + ".0";
  else if (is_value)
    p.default_value = as_toml;
  else {
    p.optional = true;
    if (!d.empty()) p.doc += " (default: " + d + ")";
  }
  if (p.type == ParamType::integer || p.type == ParamType::number ||
      p.type == ParamType::integer_list)
    p.min = 0.0;
  return p;
}

const toml::table& table_of(const toml::table& root, const char* name) {
  static const toml::table empty;
  auto* t = root[name].as_table();
  return t ? *t : empty;
}

}  // namespace

OptimConfig read_optim_config(const toml::table& root, const std::string& file) {
  OptimConfig c;
  // [optimizer] and [schedule] keys go through kernels/optim's field tables, the same ones that
  // make their schemas (register_train_sections), so names, types and docs cannot drift.
  for (auto&& [k, v] : table_of(root, "optimizer")) {
    const std::string key(k.str());
    set_field(
        file, v, "optimizer", key,
        [&](const optim::FieldValue& fv) { optim::set_sgd_field(c.sgd, key, fv); },
        optim::sgd_fields());
  }
  const auto& s = table_of(root, "schedule");
  for (auto&& [k, v] : s) {
    const std::string key(k.str());
    if (is_schedule_run_key(key)) continue;
    set_field(
        file, v, "schedule", key,
        [&](const optim::FieldValue& fv) { optim::set_schedule_field(c.schedule, key, fv); },
        optim::schedule_fields());
  }
  c.per_step = value_of<std::string>(s, "per", "step") == "step";
  c.schedule.warmup_start_factor = value_of<double>(s, "warmup_start_factor", 1.0 / 3.0);
  // torch.optim.lr_scheduler.LinearLR refuses 0 too (the schema's range is [0, 1]).
  if (const auto* n = s.get("warmup_start_factor"); n && !(c.schedule.warmup_start_factor > 0.0))
    throw ConfigError(
        fmt::format("{}: [schedule] key 'warmup_start_factor': must be in (0, 1], "
                    "got {}",
                    where_of(*n, file), c.schedule.warmup_start_factor));
  return c;
}

void check_train_config(const toml::table& root, const std::string& file) {
  const OptimConfig c = read_optim_config(root, file);
  const auto at = [&](const char* name) {
    const toml::node* n = root.get(name);
    return n ? where_of(*n, file) : file;
  };
  try {
    optim::Sgd no_parameters({}, c.sgd);  // its constructor checks the options together
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: [optimizer]: {}", at("optimizer"), e.what()));
  }
  try {
    optim::check_schedule_spec(c.schedule, c.sgd.lr);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(fmt::format("{}: [schedule]: {}", at("schedule"), e.what()));
  }
}

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

  if (ctx.config) {
    OptimConfig c = read_optim_config(*ctx.config, ctx.config_file);
    sgd_options_ = c.sgd;
    schedule_spec_ = c.schedule;
    schedule_per_step_ = c.per_step;
  }

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
  const auto& s = section(ctx_, "schedule");
  auto spec = schedule_spec_;
  const double warmup_epochs = value_of<double>(s, "warmup_epochs", 0.0);
  spec.warmup_steps = value_of<std::int64_t>(s, "warmup_steps", 0);
  if (warmup_epochs > 0)
    spec.warmup_steps = schedule_per_step_
                            ? static_cast<std::int64_t>(warmup_epochs * steps_per_epoch + 0.5)
                            : static_cast<std::int64_t>(warmup_epochs + 0.5);
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

const std::vector<std::int64_t>& input_shape(const Batch& b) {
  return b.input_device.empty() ? b.input.shape : b.input_device.shape;
}

void forward_input(nn::Model& model, const Batch& b, bool training, float* logits) {
  const auto& s = input_shape(b);
  FT_ASSERT(s.size() == 4);
  if (b.input_device.empty()) {
    model.forward(b.input.data.data(), static_cast<int>(s[0]), static_cast<int>(s[2]),
                  static_cast<int>(s[3]), training, logits);
    return;
  }
  if (!model.on_device())
    throw Error(
        "column 'input' is in GPU memory (augment output = \"device\") but the model trains on the "
        "CPU; set "
        "[run] device = \"cuda\" or the augment stage's output = \"host\"");
  model.forward_device(b.input_device.data, static_cast<int>(s[0]), static_cast<int>(s[2]),
                       static_cast<int>(s[3]), training, logits);
}

void input_to_host(Batch& b) {
  if (b.input_device.empty()) return;
  b.input.resize(b.input_device.shape);
  nn::cuda::download(b.input.data.data(), b.input_device.data, b.input.data.size());
  b.input_device.clear();
}

void register_train_sections(Registry& r) {
  using T = ParamType;
  r.add_section(
      {"model",
       "The network: kind and its parameters.",
       {{"kind",
         T::string,
         "network",
         "\"resnet_small\"",
         false,
         {},
         {},
         {"resnet_small", "mini_resnet", "resnet18", "resnet34", "resnet50", "resnext50_32x4d"}},
        // Upper bounds on the keys that size the model's memory (the run's memory estimate
        // checks their product); read_files applies the same num_classes bound.
        {"num_classes", T::integer, "output classes", "10", false, 1.0, 1e6},
        {"blocks", T::integer, "mini_resnet: number of blocks", "6", false, 1.0, 12.0},
        {"base_width", T::integer, "mini_resnet: width of block 0 (doubles per block)", "32", false,
         1.0, 4096.0},
        {"dropout", T::number, "mini_resnet: dropout before each head Linear", "0.0", false, 0.0,
         1.0},
        {"zero_init_residual", T::boolean, "resnets: zero the last BN of each residual branch",
         "false"},
        {"widths", T::integer_list, "resnet_small: width of each stage", "[16, 32, 64]", false,
         1.0, 8192.0},
        {"stage_blocks", T::integer_list, "resnet_small: BasicBlocks per stage", "[1, 1, 1]", false,
         1.0, 1024.0},
        {"init_from", T::string,
         "start from this checkpoint's weights (new optimizer and schedule)", "", true}}});
  SectionSchema optimizer{"optimizer", "SGD as torch.optim.SGD (its defaults too).", {}};
  for (const auto& f : optim::sgd_fields()) optimizer.params.push_back(spec_of(f));
  r.add_section(std::move(optimizer));
  SectionSchema schedule{
      "schedule",
      "Learning-rate schedule (torch.optim.lr_scheduler values), with an optional linear warmup.",
      {{"per",
        T::string,
        "step the schedule per iteration or per epoch (lengths in that unit)",
        "\"step\"",
        false,
        {},
        {},
        {"step", "epoch"}},
       {"warmup_epochs", T::number, "linear warmup length in epochs", "0.0", false, 0.0},
       {"warmup_steps", T::integer, "linear warmup length in scheduler steps", "0", false, 0.0},
       {"warmup_start_factor", T::number, "warmup starts at lr x this", "0.3333333333333333", false,
        0.0, 1.0}}};
  for (const auto& f : optim::schedule_fields()) schedule.params.push_back(spec_of(f));
  r.add_section(std::move(schedule));
}

}  // namespace ft

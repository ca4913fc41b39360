// The training state shared by train_step, eval_step, predict and checkpoint through the
// RunContext: the model (built lazily from [model] once the first batch's shape is known), the
// SGD optimizer and the schedule, the global step, and checkpoint save/load (resume, init_from).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "kernels/nn/model.hpp"
#include "kernels/optim/checkpoint.hpp"
#include "kernels/optim/schedule.hpp"
#include "kernels/optim/sgd.hpp"
#include "pipeline/stage.hpp"

namespace ft {

// The checkpoint `--resume` names, loaded and checked by the command before the run starts
// (StageShared::resume), so the training state does not read it again.
struct ResumeSource {
  optim::Checkpoint checkpoint;
};

class TrainState {
 public:
  // The run's shared state, created on first use from the resolved config.
  static std::shared_ptr<TrainState> get(RunContext& ctx);

  // Builds the model for inputs of (c, h, w) on first call; later calls check the shape.
  nn::Model& model(int c, int h, int w);
  bool has_model() const { return model_ != nullptr; }
  nn::Model& model() { return *model_; }
  // Optimizer and schedule; the schedule needs the train pass length (batches per epoch).
  optim::Sgd& optimizer();
  void prepare_schedule(std::int64_t steps_per_epoch);
  // Sets lr (and momentum) for the step about to run (epoch 1-based, iteration 0-based).
  void apply_schedule(int epoch, std::int64_t iteration);
  double lr() const;
  // The schedule over the whole run (prepare_schedule first), for `flowtrain schedule`.
  std::vector<optim::ScheduleRow> schedule_rows(bool every_step) const;
  std::string describe_schedule() const;

  std::int64_t step = 0;     // optimizer steps taken in this run (resume continues it)
  int completed_epochs = 0;  // epochs whose train pass finished
  float label_smoothing = 0.f;
  bool trained = false;  // a train_step stage exists in the graph

  // Checkpoints: weights, batch-norm stats, optimizer state, step/epoch, seed, config. Saves
  // `path` first, then each of `copies` as a copy of it (optim::save_checkpoint); refuses (Error)
  // a state holding NaN or inf, so the last good checkpoint stays. `epoch_batches` > 0: the run
  // stopped after that many batches of epoch completed_epochs + 1, and the pass state of the
  // stages (add_pass_state) is saved too.
  void save(const std::string& path, const std::vector<std::string>& copies = {},
            std::int64_t epoch_batches = 0) const;
  void load_resume(const std::string& path);  // everything; the run continues after its epoch
  std::string checkpoint_dir() const;

  // What serial stages accumulated over a train pass so far (metrics' running totals), for a run
  // that stops mid-epoch: each saver adds entries under its own prefix ("metrics."); they are
  // stored as checkpoint ints "pass.<key>". On resume, a stage takes its entries back once.
  using PassState = std::map<std::string, std::int64_t>;
  void add_pass_state(std::function<void(PassState&)> saver) {
    pass_savers_.push_back(std::move(saver));
  }
  PassState take_resumed_pass_state(const std::string& prefix);

 private:
  explicit TrainState(RunContext& ctx);
  void load_weights(const std::string& path, const char* what);
  RunContext& ctx_;
  nn::ModelSpec spec_;
  double warmup_epochs_ = 0.0;
  std::int64_t start_epoch_ = 0;  // [schedule] start_epoch: the schedule's epochs before this run
  std::string init_from_;
  // [distributed] sync_batchnorm: the layers the model was built from (its composites keep them).
  std::unique_ptr<nn::LayerFactory> layers_;
  std::unique_ptr<nn::Model> model_;
  optim::SgdOptions sgd_options_;
  std::unique_ptr<optim::Sgd> sgd_;
  optim::ScheduleSpec schedule_spec_;
  bool schedule_per_step_ = true;
  std::optional<optim::Schedule> schedule_;
  std::int64_t steps_per_epoch_ = 0;
  std::vector<std::function<void(PassState&)>> pass_savers_;
  PassState resumed_pass_state_;
};

}  // namespace ft

// The stage API. A stage kind is a schema (parameters with types, defaults, ranges and docs; the
// columns it reads and writes; its concurrency) plus a factory. The same schema drives
// validation, `flowtrain stages` and the config reference, so they cannot drift.
// Two phases, as DALI does: setup() once per run (shapes, buffers, shared state), run() per batch
// (only computes). Stages never call each other; shared state (the model) lives in RunContext.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/batch.hpp"
#include "pipeline/param_spec.hpp"

namespace ft {

// Where a config value came from, for error messages: "configs/x.toml:12:3".
struct SourcePos {
  std::string file;
  int line = 0, column = 0;
  std::string str() const;
};

// A stage's validated parameters: typed getters that fall back to the schema's defaults.
class Params {
 public:
  Params() = default;
  // Owns a copy of `values` (tests, programmatic use). Copies of TOML nodes lose their source
  // positions, so messages then name only the file.
  Params(toml::table values, std::string stage_id, std::string file,
         const std::vector<ParamSpec>* specs);
  // A view of a table inside a config that outlives the Params (keeps file:line:col in messages).
  // The stage's reserved keys (id, kind, after, ...) may be present and are not parameters.
  Params(const toml::table* view, std::string stage_id, std::string file,
         const std::vector<ParamSpec>* specs);
  // A run-level table ([model], [schedule], ...): messages say "[name] key 'k'". `view` may be
  // null (the config has no such table: every key takes its default).
  static Params section(const toml::table* view, const std::string& name, std::string file,
                        const std::vector<ParamSpec>* specs);

  bool has(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::int64_t get_int(const std::string& key) const;
  double get_number(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<std::int64_t> get_int_list(const std::string& key) const;
  std::vector<double> get_number_list(const std::string& key) const;
  std::vector<std::string> get_string_list(const std::string& key) const;
  const toml::table* get_table(const std::string& key) const;
  const toml::array* get_array(const std::string& key) const;
  const toml::table& values() const { return *values_; }
  const std::string& stage_id() const { return stage_id_; }
  const std::string& file() const { return file_; }
  // "file:line:col: stage 'id' key 'k'" for an error about a value of this stage ("[name] key
  // 'k'" for a section); a key the table does not hold is placed at the table.
  std::string where(const std::string& key) const;
  std::string where(const toml::node& node, const std::string& key) const;

 private:
  const toml::node* value_or_default(const std::string& key) const;
  std::shared_ptr<const toml::table> owned_;
  const toml::table* values_ = &empty_table();
  toml::table defaults_;
  static const toml::table& empty_table();
  std::string stage_id_, file_;
  std::string owner_;  // "stage 'id'" or "[name]"
};

struct PassInfo {
  Split split = Split::train;
  int epoch = 0;
  std::uint64_t seed = 0;
  std::size_t num_batches = 0;
  std::size_t num_samples = 0;
};

class RunContext;

class Stage {
 public:
  virtual ~Stage() = default;
  virtual void setup(RunContext& /*ctx*/) {}
  // Sources only: how many batches this pass has (0 = the source has nothing for this split).
  virtual std::size_t begin_source_pass(const PassInfo& /*pass*/) { return 0; }
  virtual void begin_pass(const PassInfo& /*pass*/) {}
  virtual void run(Batch& batch) = 0;
  // Pass-level work after the last batch (metrics lines, schedule step, checkpoints).
  virtual void end_pass(const PassInfo& /*pass*/) {}
  // After the train and val passes of an epoch (checkpoints, per-epoch schedule steps).
  virtual void end_epoch(int /*epoch*/) {}
  // After all passes of the run.
  virtual void finish(RunContext& /*ctx*/) {}
};

struct Access {
  std::vector<std::string> reads, writes;
};

struct StageKind {
  std::string name;
  std::string doc;
  std::vector<ParamSpec> params;
  // Columns read and written; may depend on the parameters (e.g. which ops augment runs).
  std::function<Access(const Params&)> access;
  bool source = false;          // produces batches (first stage of the chain)
  bool serial = false;          // stateful: one batch at a time, in sequence order
  int default_concurrency = 0;  // pure stages: 0 = unlimited (bounded by the in-flight tokens)
  std::vector<Split> default_splits{Split::train, Split::val, Split::test};
  std::function<std::unique_ptr<Stage>(const Params&)> make;
};

// What stages share with each other (the datasets, the model, the results): one typed member per
// role, defined by stages/ (stages/stage_shared.hpp), so pipeline/ knows only this name.
struct StageShared;

// What a run shares with its stages: resolved config, run folder, seed, device, and the stages'
// shared objects.
class RunContext {
 public:
  const toml::table* config = nullptr;  // the resolved config
  std::string config_file;              // for error messages
  std::filesystem::path run_dir;
  std::uint64_t seed = 0;
  std::string device = "cpu";
  int threads = 1;
  int omp_threads = 1;  // OpenMP threads for oneDNN layers (set per calling thread)
  int epochs = 1;
  int start_epoch = 1;          // > 1 when resuming
  std::size_t start_batch = 0;  // > 0: a stopped run resumes start_epoch's train pass here
  // Data-parallel runs: combines this process's wish to stop (pipeline/stop.hpp should_stop) into
  // the run's decision, the same on every process (an allreduce); unset: the process decides.
  std::function<bool(bool)> agree_stop;
  std::string resume_path;  // --resume checkpoint
  bool quiet = false;

  // Created on first use by stage_shared(ctx) (stages/stage_shared.hpp).
  std::shared_ptr<StageShared> stages;
};

}  // namespace ft

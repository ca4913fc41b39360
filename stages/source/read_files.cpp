// read_files: dataset loading at setup, per-epoch order at begin_source_pass, file reads per batch.
// run() may execute for several batches at once (the stage's concurrency): it only reads the pass
// state that begin_source_pass wrote.
#include "stages/source/read_files.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "pipeline/error.hpp"
#include "stages/source/shards.hpp"
#include "stages/stage_shared.hpp"

namespace ft {

ReadFiles::ReadFiles(const Params& p)
    : ReadFiles(p, OrderSpec{p.get_bool("shuffle") ? ShuffleMode::global : ShuffleMode::none}) {}

ReadFiles::ReadFiles(const Params& p, OrderSpec order)
    : batch_size_(static_cast<std::size_t>(p.get_int("batch_size"))),
      order_spec_(order),
      drop_last_(p.get_bool("drop_last")) {}

void ReadFiles::setup(RunContext& ctx) {
  if (data_) return;
  if (!ctx.config) throw Error("read_files: no config given to the run");
  const toml::table* data = (*ctx.config)["data"].as_table();
  if (!data)
    throw ConfigError(ctx.config_file +
                      ": read_files needs a [data] table (train/val/test splits)");
  int num_classes = 0;
  if (const toml::node* nc = (*ctx.config)["model"]["num_classes"].node()) {
    const auto v = nc->value_exact<std::int64_t>();
    if (!v || *v < 1 || *v > kMaxNumClasses)
      throw ConfigError(ctx.config_file + ":" + std::to_string(nc->source().begin.line) + ":" +
                        std::to_string(nc->source().begin.column) +
                        ": [model] num_classes must be an integer in [1, " +
                        std::to_string(kMaxNumClasses) + "]" +
                        (v ? ", got " + std::to_string(*v) : std::string()));
    num_classes = static_cast<int>(*v);
  }
  data_ =
      std::make_shared<DataSplits>(load_data_splits(*data, ctx.config_file, num_classes, ctx.seed));
  stage_shared(ctx).datasets = data_;
  set_processes(run_rank(ctx), run_world(ctx));
}

void ReadFiles::set_processes(int rank, int world) {
  if (batch_size_ % static_cast<std::size_t>(world) != 0)
    throw ConfigError(fmt::format(
        "batch_size {} is the global batch and must divide evenly among the {} processes of "
        "this run (each takes batch_size / processes)",
        batch_size_, world));
  rank_ = rank;
  world_ = world;
}

const Dataset* ReadFiles::dataset_for(Split s) const {
  if (!data_) return nullptr;
  const std::optional<Dataset>& d = s == Split::train ? data_->train
                                    : s == Split::val ? data_->val
                                                      : data_->test;
  return d ? &*d : nullptr;
}

std::size_t ReadFiles::begin_source_pass(const PassInfo& pass) {
  pass_split_ = pass.split;
  pass_data_ = dataset_for(pass.split);
  if (!pass_data_) {
    pass_batches_ = 0;
    order_.clear();
    return 0;
  }
  const bool train = pass.split == Split::train;
  const bool drop = train && drop_last_;
  RankShare share = rank_share(
      sample_order(*pass_data_, train ? order_spec_ : OrderSpec{}, pass.seed, pass.epoch), rank_,
      world_, drop);
  order_ = std::move(share.order);
  padded_from_ = order_.size() - share.padded;
  pass_batches_ = batch_count(order_.size(), local_batch(), drop);
  return pass_batches_;
}

void ReadFiles::run(Batch& batch) {
  FT_ASSERT(pass_data_ && batch.split == pass_split_ && batch.seq < pass_batches_);
  const std::size_t begin = batch.seq * local_batch();
  const std::size_t end = std::min(order_.size(), begin + local_batch());
  batch.jpeg.clear();
  batch.padded = 0;  // counted as emitted: a skipped sample may be a padded one
  for (std::size_t k = begin; k < end; ++k) {
    const std::uint32_t i = order_[k];
    const Sample& s = pass_data_->samples[i];
    try {
      append_sample_bytes(*pass_data_, s, batch.jpeg.bytes);
    } catch (const std::runtime_error& e) {
      if (skip_unreadable(s, e.what())) continue;
      throw Error("cannot read sample '" + s.id + "': " + e.what(), 2);
    }
    batch.id.push_back(s.id);
    batch.index.push_back(i);
    batch.label.push_back(s.label);
    batch.path.push_back(sample_location(s));
    batch.jpeg.offsets.push_back(batch.jpeg.bytes.size());
    batch.padded += k >= padded_from_;
  }
}

StageKind read_files_kind() {
  StageKind k;
  k.name = "read_files";
  k.doc =
      "Source: reads the split's files ([data] table) into the jpeg column, in batches; "
      "train order reshuffled each epoch from (seed, epoch)";
  k.params = {
      {.name = "batch_size",
       .type = ParamType::integer,
       .doc = "samples per batch: the global batch of a data-parallel run (each of its N "
              "processes takes batch_size / N)",
       .default_value = "128",
       .min = 1.0,
       .max = static_cast<double>(kMaxBatchSize)},
      {.name = "shuffle",
       .type = ParamType::boolean,
       .doc = "shuffle the train split each epoch (val/test keep file order)",
       .default_value = "true"},
      {.name = "drop_last",
       .type = ParamType::boolean,
       .doc = "drop the last partial train batch",
       .default_value = "false"},
  };
  k.access = [](const Params&) {
    return Access{{}, {col::kId, col::kIndex, col::kLabel, col::kPath, col::kJpeg}};
  };
  k.source = true;
  k.make = [](const Params& p) { return std::make_unique<ReadFiles>(p); };
  return k;
}

}  // namespace ft

// Stage `read_files` (source): emits the batches of one pass over a split's Dataset, reading each
// sample's file into the batch's jpeg arena. The train order is a fresh permutation per epoch, a
// pure function of (run seed, epoch); val and test keep the dataset order.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pipeline/stage.hpp"
#include "stages/source/dataset.hpp"
#include "stages/source/sample_order.hpp"
#include "stages/source/sampler.hpp"

namespace ft {

// Upper bounds of the memory-sizing keys read here (each sizes per-batch or per-class buffers).
inline constexpr std::int64_t kMaxBatchSize = 65536;
inline constexpr std::int64_t kMaxNumClasses = 1'000'000;

class ReadFiles : public Stage {
 public:
  explicit ReadFiles(const Params& p);
  // read_shards: the same stage with its order chosen by `shuffle` and `window`.
  ReadFiles(const Params& p, OrderSpec order);
  // Reads `[data]` and `[model] num_classes` from ctx.config and loads the splits; publishes them
  // as stage_shared(ctx).datasets for stages that need ids or class names (predict).
  void setup(RunContext& ctx) override;
  std::size_t begin_source_pass(const PassInfo& pass) override;
  void run(Batch& batch) override;

  // For tests and tools: use these datasets instead of reading the config.
  void set_datasets(std::shared_ptr<DataSplits> d) { data_ = std::move(d); }
  const DataSplits* datasets() const { return data_.get(); }
  // This process's place in a data-parallel run (setup reads it from the run's communicator):
  // it takes its share of every pass, batch_size / world samples per batch.
  void set_processes(int rank, int world);

 protected:
  // A sample whose bytes cannot be read (or fail their checksum): true drops it from the batch,
  // false (read_files) makes it an error naming the sample. May run on several threads at once.
  virtual bool skip_unreadable(const Sample& /*s*/, const std::string& /*why*/) { return false; }

 private:
  const Dataset* dataset_for(Split s) const;

  std::size_t batch_size_;
  OrderSpec order_spec_;  // of the train split (val and test keep the dataset order)
  bool drop_last_;
  std::shared_ptr<DataSplits> data_;
  // The current pass; written by begin_source_pass before any run(), read-only during the pass.
  const Dataset* pass_data_ = nullptr;
  Split pass_split_ = Split::train;
  std::size_t pass_batches_ = 0;
  std::vector<std::uint32_t> order_;
  std::size_t padded_from_ = 0;  // order_[k] for k >= padded_from_ is padding
  int rank_ = 0, world_ = 1;
  std::size_t local_batch() const { return batch_size_ / static_cast<std::size_t>(world_); }
};

StageKind read_files_kind();

}  // namespace ft

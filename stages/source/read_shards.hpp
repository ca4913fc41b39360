// Stage `read_shards` (source): read_files over a shard dataset ([data] format = "shards"), each
// sample read by its byte range, with the order chosen by `shuffle` ("global": read_files' exact
// per-epoch permutation; "window": shards in a shuffled order through a shuffle buffer) and a
// sample that fails its checksum or cannot be read handled by `on_error` (fail names it; skip
// drops it and counts it per pass).
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "stages/source/read_files.hpp"

namespace ft {

class ReadShards final : public ReadFiles {
 public:
  explicit ReadShards(const Params& p);
  // The runtime calls no end_pass on a source: a pass's skips are reported when the next pass
  // begins, and at finish.
  std::size_t begin_source_pass(const PassInfo& pass) override;
  void finish(RunContext& ctx) override;
  std::vector<std::string> skipped_examples() const;

 protected:
  bool skip_unreadable(const Sample& s, const std::string& why) override;

 private:
  void report_pass();

  bool skip_;
  PassInfo pass_;
  std::atomic<std::size_t> skipped_pass_{0}, skipped_total_{0};
  mutable std::mutex mu_;
  std::vector<std::string> examples_;
};

StageKind read_shards_kind();

}  // namespace ft

// Stage `decode_jpeg`: "jpeg" bytes -> "image" (ragged u8 HWC). Headers first (to lay out the
// batch's image buffer once), then a parallel decode straight into it. A broken file, or one whose
// header claims more than max_pixels pixels, either fails the run naming the sample (on_error =
// "fail") or is dropped from the batch and counted ("skip"); nothing is allocated for it first.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline/stage.hpp"

namespace ft {

class DecodeJpeg : public Stage {
 public:
  explicit DecodeJpeg(const Params& p);
  void run(Batch& batch) override;
  // Prints this pass's skipped files (the first few) on stderr.
  void end_pass(const PassInfo& pass) override;
  void finish(RunContext& ctx) override;

  // Samples dropped so far in this run (on_error = "skip").
  std::size_t skipped() const { return skipped_total_.load(); }
  // The first few "sample ... : reason" lines of dropped samples.
  std::vector<std::string> skipped_examples() const;

 private:
  bool skip_;
  int channels_;  // 0 = keep the file's
  std::int64_t max_pixels_;
  std::atomic<std::size_t> skipped_pass_{0}, skipped_total_{0};
  mutable std::mutex mu_;
  std::vector<std::string> examples_;
};

StageKind decode_jpeg_kind();

}  // namespace ft

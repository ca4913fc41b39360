// Stage timing: every batch records, per stage, when it arrived, started and ended, and on which
// worker. From those events: items/s, busy fraction, idle time split into starved (nothing queued
// and batches still upstream, or tokens free: waiting on upstream) and blocked (nothing queued,
// nothing upstream, every in-flight token taken: waiting on downstream to free a token), latency
// mean/p95, the bottleneck, and a Chrome/Perfetto trace.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ft {

struct StageEvent {
  std::uint32_t stage = 0;  // index in the chain
  std::uint64_t seq = 0;
  std::int32_t pass = 0;  // index of the pass, for the trace
  std::int64_t arrive_ns = 0, start_ns = 0, end_ns = 0;
  int thread = 0;
};

struct StageStats {
  std::string id, kind;
  std::size_t items = 0;
  double items_per_s = 0, busy = 0, starved = 0, blocked = 0;  // fractions of the window x slots
  double mean_ms = 0, p95_ms = 0;
  int slots = 1;
};

struct ProfileReport {
  double wall_s = 0;
  std::size_t batches = 0, samples = 0;
  std::vector<StageStats> stages;
  std::size_t bottleneck = 0;
  std::vector<double> pass_gaps_ms;  // idle time between consecutive passes
  std::string text() const;          // the table `flowtrain profile` prints
};

class Profiler {
 public:
  // slots: per stage, how many batches it may run at once (unlimited stages: the thread count).
  Profiler(std::vector<std::string> ids, std::vector<std::string> kinds, std::vector<int> slots,
           int max_in_flight);

  std::int64_t now_ns() const;
  int begin_pass(const std::string& label);  // returns the pass index
  void end_pass();
  void record(const StageEvent& e);
  void add_samples(std::size_t n);

  ProfileReport report() const;
  // Chrome trace-event JSON: one track per worker thread, one slice per stage per batch.
  void write_trace(const std::string& path) const;

 private:
  std::chrono::steady_clock::time_point t0_;
  std::vector<std::string> ids_, kinds_;
  std::vector<int> slots_;
  int max_in_flight_;
  mutable std::mutex mu_;
  std::vector<StageEvent> events_;
  struct Pass {
    std::string label;
    std::int64_t begin_ns = 0, end_ns = 0;
  };
  std::vector<Pass> passes_;
  std::size_t samples_ = 0;

  // One stage's statistics from the events (mu_ held); spans: per batch, when it took and
  // returned its in-flight token.
  StageStats stage_stats(std::size_t s,
                         const std::vector<std::pair<std::int64_t, std::int64_t>>& spans) const;
};

}  // namespace ft

// The runtime: a validated stage chain becomes a tbb::flow::graph, built once per pass (one
// activation per pass: the source emits that pass's batches, then wait_for_all; epoch-level work
// runs between passes). Batches live in a pool of `max_in_flight` slots; a limiter_node fed back
// from the last node bounds how many are in flight, so memory is bounded whatever the stages'
// relative speed. Serial (stateful) stages get a sequencer_node in front: they see batches in
// sequence order, which keeps training deterministic for any thread count.
#pragma once

#include <atomic>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/graph.hpp"
#include "pipeline/profile.hpp"
#include "pipeline/registry.hpp"

namespace ft {

class Pipeline {
 public:
  // max_in_flight: 0 = 2 x ctx.threads + 2.
  Pipeline(const ResolvedGraph& graph, RunContext& ctx, int max_in_flight = 0);
  ~Pipeline();

  // Creates every stage and calls its setup(ctx).
  void setup();
  // Runs one pass over `split`; at most `limit` batches when limit > 0; from batch `start` on (a
  // resumed train pass: the batches before it were trained before the run stopped). Returns the
  // batch count (0 when the source has nothing for that split). A train pass stops early when
  // should_stop (pipeline/stop.hpp) says so: then stopped_at() is set and no stage's end_pass runs.
  std::size_t run_pass(Split split, int epoch, std::size_t limit = 0, std::size_t start = 0);
  // The first batch the last pass did not run when it stopped early (every batch before it
  // completed every stage); nullopt when it ran to its end.
  std::optional<std::size_t> stopped_at() const;
  void end_epoch(int epoch);
  void finish();

  // Records stage timing for `flowtrain profile` and the run's profile summary.
  Profiler& profiler() { return *profiler_; }
  Stage& stage(std::size_t i) { return *stages_.at(i); }
  const ResolvedGraph& graph() const { return graph_; }
  int max_in_flight() const { return max_in_flight_; }
  int peak_in_flight() const { return peak_in_flight_.load(); }

 private:
  struct Slot;
  const ResolvedGraph& graph_;
  RunContext& ctx_;
  int max_in_flight_;
  std::vector<std::unique_ptr<Stage>> stages_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::unique_ptr<Profiler> profiler_;
  std::atomic<int> in_flight_{0}, peak_in_flight_{0};
  static constexpr std::uint64_t kNoStop = std::numeric_limits<std::uint64_t>::max();
  static constexpr std::size_t kNoCheck = std::numeric_limits<std::size_t>::max();
  std::atomic<std::uint64_t> stop_seq_{kNoStop};  // batches from this seq on are skipped

  // run_pass's parts: the flow graph of one pass over the `active` chain indices; one stage's
  // run of a batch, timed for the profiler; a slot taken for batch `seq` of the pass.
  void run_flow_graph(const PassInfo& pass, const std::vector<std::size_t>& active, int pass_index,
                      std::size_t start);
  // Position in `active` of the first serial stage after the source (0: none).
  std::size_t first_serial(const std::vector<std::size_t>& active) const;
  void run_stage(std::size_t chain_index, Slot* slot, int pass_index);
  void start_batch(Slot* slot, std::uint64_t seq, const PassInfo& pass);
};

// The [run] table's schema: name, seed, device, epochs, threads, in_flight, ...
SectionSchema run_section_schema();

// Where a run stopped early: `batch` batches of epoch `epoch`'s train pass were trained.
struct StopPoint {
  int epoch = 0;
  std::size_t batch = 0;
};

// The whole run: for each epoch a train pass, a val pass and end_epoch; then a test pass and
// finish. A resumed run starts at ctx.start_epoch's batch ctx.start_batch. Returns where it
// stopped when a train pass stopped early (nothing after it ran); nullopt when it ran to the end.
std::optional<StopPoint> run_all_passes(Pipeline& pipeline, const RunContext& ctx);

}  // namespace ft

// Flow-graph construction and the pass loop (see runtime.hpp).
#include "pipeline/runtime.hpp"

#include <fmt/format.h>
#include <tbb/concurrent_queue.h>
#include <tbb/flow_graph.h>
#include <tbb/task_arena.h>

#include "pipeline/error.hpp"
#include "pipeline/stop.hpp"

namespace ft {

struct Pipeline::Slot {
  Batch batch;
  std::int64_t arrive_ns = 0;  // when the batch was handed to the stage that is next to run it
};

Pipeline::Pipeline(const ResolvedGraph& graph, RunContext& ctx, int max_in_flight)
    : graph_(graph),
      ctx_(ctx),
      max_in_flight_(max_in_flight > 0 ? max_in_flight : 2 * ctx.threads + 2) {
  std::vector<std::string> ids, kinds;
  std::vector<int> slots;
  for (const auto& s : graph_.chain) {
    ids.push_back(s.id);
    kinds.push_back(s.kind->name);
    slots.push_back(s.concurrency == 0 ? std::max(1, ctx.threads)
                                       : std::min(s.concurrency, std::max(1, ctx.threads)));
  }
  profiler_ = std::make_unique<Profiler>(ids, kinds, slots, max_in_flight_);
  for (int i = 0; i < max_in_flight_; ++i) slots_.push_back(std::make_unique<Slot>());
}

Pipeline::~Pipeline() = default;

void Pipeline::setup() {
  for (const auto& s : graph_.chain) {
    try {
      stages_.push_back(s.kind->make(s.params));
      stages_.back()->setup(ctx_);
    } catch (const Error& e) {
      throw Error(fmt::format("stage '{}' ({}) setup: {}", s.id, s.kind->name, e.what()),
                  e.exit_code());
    } catch (const std::exception& e) {
      throw Error(fmt::format("stage '{}' ({}) setup: {}", s.id, s.kind->name, e.what()));
    }
  }
}

namespace {

// Re-throws what a stage threw, prefixed with the stage and the batch at fault.
[[noreturn]] void rethrow_in_stage(const ResolvedStage& s, const Batch& b) {
  const std::string where = fmt::format("stage '{}' ({}), {} epoch {} batch {}", s.id, s.kind->name,
                                        split_name(b.split), b.epoch, b.seq);
  try {
    throw;
  } catch (const Error& e) {
    throw Error(where + ": " + e.what(), e.exit_code());
  } catch (const std::exception& e) {
    throw Error(where + ": " + e.what());
  }
}

// Chain indices of the stages a pass over `split` runs: the source, then every stage active on it.
std::vector<std::size_t> active_stages(const std::vector<ResolvedStage>& chain, Split split) {
  std::vector<std::size_t> active;
  for (std::size_t i = 0; i < chain.size(); ++i)
    if (i == 0 || chain[i].active(split)) active.push_back(i);
  return active;
}

}  // namespace

std::size_t Pipeline::run_pass(Split split, int epoch, std::size_t limit, std::size_t start) {
  FT_ASSERT(stages_.size() == graph_.chain.size());
  stop_seq_ = kNoStop;
  PassInfo pass{split, epoch, ctx_.seed, 0, 0};
  std::size_t n = stages_[0]->begin_source_pass(pass);
  if (limit > 0) n = std::min(n, limit);
  if (n == 0) return 0;
  pass.num_batches = n;
  if (start > n)
    throw Error(fmt::format(
        "the resumed run stopped after batch {} of epoch {}, but that {} pass now has {} "
        "batches: the data or the batch size changed since, so the position means nothing",
        start, epoch, split_name(split), n));

  const std::vector<std::size_t> active = active_stages(graph_.chain, split);
  for (std::size_t k = 1; k < active.size(); ++k) stages_[active[k]]->begin_pass(pass);
  const int pass_index = profiler_->begin_pass(fmt::format("{} {}", split_name(split), epoch));
  try {
    run_flow_graph(pass, active, pass_index, start);
  } catch (...) {
    profiler_->end_pass();
    in_flight_ = 0;
    throw;
  }
  profiler_->end_pass();
  if (stopped_at()) return n;  // the pass did not finish: no stage ends it
  for (std::size_t k = 1; k < active.size(); ++k) {
    try {
      stages_[active[k]]->end_pass(pass);
    } catch (const Error& e) {
      throw Error(fmt::format("stage '{}' end of {} pass: {}", graph_.chain[active[k]].id,
                              split_name(split), e.what()),
                  e.exit_code());
    }
  }
  return n;
}

void Pipeline::run_stage(std::size_t chain_index, Slot* slot, int pass_index) {
  const std::int64_t start = profiler_->now_ns();
  try {
    stages_[chain_index]->run(slot->batch);
  } catch (...) {
    rethrow_in_stage(graph_.chain[chain_index], slot->batch);
  }
  const std::int64_t end = profiler_->now_ns();
  profiler_->record(StageEvent{static_cast<std::uint32_t>(chain_index), slot->batch.seq, pass_index,
                               slot->arrive_ns, start, end,
                               tbb::this_task_arena::current_thread_index()});
  slot->arrive_ns = end;
}

void Pipeline::start_batch(Slot* slot, std::uint64_t seq, const PassInfo& pass) {
  const int now = ++in_flight_;
  for (int peak = peak_in_flight_.load();
       now > peak && !peak_in_flight_.compare_exchange_weak(peak, now);) {
  }
  slot->batch.reset();
  slot->batch.seq = seq;
  slot->batch.epoch = pass.epoch;
  slot->batch.split = pass.split;
  slot->batch.seed = ctx_.seed;
  slot->arrive_ns = profiler_->now_ns();
}

// The pass's flow graph: nodes, then the edges, then activate and wait (a stage's exception
// cancels the graph and comes back from wait_for_all).
void Pipeline::run_flow_graph(const PassInfo& pass, const std::vector<std::size_t>& active,
                              int pass_index, std::size_t start) {
  using namespace tbb::flow;
  tbb::concurrent_queue<Slot*> pool;
  for (auto& s : slots_) pool.push(s.get());
  auto concurrency_of = [this](std::size_t i) -> std::size_t {
    const int c = graph_.chain[i].concurrency;
    return c == 0 ? static_cast<std::size_t>(unlimited) : static_cast<std::size_t>(c);
  };

  // Nodes.
  tbb::flow::graph g;
  // A train pass may stop early (pipeline/stop.hpp): at each step boundary, in the first serial
  // stage (the input node when there is none), should_stop decides; the batches from there on
  // skip every stage, those before it complete.
  const std::size_t stop_check = pass.split == Split::train ? first_serial(active) : kNoCheck;
  std::uint64_t next_seq = start;
  input_node<std::uint64_t> input(g, [&](tbb::flow_control& fc) -> std::uint64_t {
    if (stop_check == 0 && stop_seq_ == kNoStop && should_stop(ctx_)) stop_seq_ = next_seq;
    if (next_seq >= pass.num_batches || next_seq >= stop_seq_) {
      fc.stop();
      return 0;
    }
    return next_seq++;
  });
  limiter_node<std::uint64_t> limiter(g, static_cast<std::size_t>(max_in_flight_));
  function_node<std::uint64_t, Slot*> source(g, concurrency_of(0), [&](std::uint64_t seq) {
    Slot* slot = nullptr;
    FT_ASSERT(pool.try_pop(slot));  // the limiter guarantees a free slot
    start_batch(slot, seq, pass);
    if (seq < stop_seq_) run_stage(0, slot, pass_index);
    return slot;
  });
  std::vector<std::unique_ptr<sequencer_node<Slot*>>> sequencers;
  std::vector<std::unique_ptr<function_node<Slot*, Slot*>>> stage_nodes;
  for (std::size_t k = 1; k < active.size(); ++k) {
    const std::size_t i = active[k];
    if (graph_.chain[i].kind->serial)
      sequencers.push_back(std::make_unique<sequencer_node<Slot*>>(
          g, [start](Slot* s) { return s->batch.seq - start; }));
    else
      sequencers.push_back(nullptr);
    stage_nodes.push_back(std::make_unique<function_node<Slot*, Slot*>>(
        g, concurrency_of(i), [this, i, k, pass_index, stop_check](Slot* slot) {
          if (k == stop_check && stop_seq_ == kNoStop && should_stop(ctx_))
            stop_seq_ = slot->batch.seq;
          if (slot->batch.seq < stop_seq_) run_stage(i, slot, pass_index);
          return slot;
        }));
  }
  function_node<Slot*, continue_msg> release(g, unlimited, [&](Slot* slot) {
    profiler_->add_samples(slot->batch.size());
    --in_flight_;
    pool.push(slot);
    return continue_msg();
  });

  // Edges.
  make_edge(input, limiter);
  make_edge(limiter, source);
  sender<Slot*>* prev = &source;
  for (std::size_t k = 0; k < stage_nodes.size(); ++k) {
    if (sequencers[k]) {
      make_edge(*prev, *sequencers[k]);
      make_edge(*sequencers[k], *stage_nodes[k]);
    } else {
      make_edge(*prev, *stage_nodes[k]);
    }
    prev = stage_nodes[k].get();
  }
  make_edge(*prev, release);
  make_edge(release, limiter.decrementer());

  input.activate();
  g.wait_for_all();
}

std::size_t Pipeline::first_serial(const std::vector<std::size_t>& active) const {
  for (std::size_t k = 1; k < active.size(); ++k)
    if (graph_.chain[active[k]].kind->serial) return k;
  return 0;
}

std::optional<std::size_t> Pipeline::stopped_at() const {
  const std::uint64_t s = stop_seq_.load();
  if (s == kNoStop) return std::nullopt;
  return static_cast<std::size_t>(s);
}

void Pipeline::end_epoch(int epoch) {
  for (auto& s : stages_) s->end_epoch(epoch);
}

void Pipeline::finish() {
  for (auto& s : stages_) s->finish(ctx_);
}

SectionSchema run_section_schema() {
  using T = ParamType;
  return {
      .name = "run",
      .doc = "How the run is executed: name, seed, device, epochs, threads.",
      .params =
          {{.name = "name",
            .type = T::string,
            .doc = "run folder name: <runs_dir>/<name>/",
            .default_value = "\"run\""},
           {.name = "runs_dir",
            .type = T::string,
            .doc = "folder that holds run folders",
            .default_value = "\"runs\""},
           {.name = "seed",
            .type = T::integer,
            .doc = "seed of every random draw (shuffle, init, augmentation)",
            .default_value = "0",
            .min = 0.0},
           {.name = "device",
            .type = T::string,
            .doc = "where the model trains: cpu (oneDNN), cuda (cuDNN/cuBLAS; an error without a "
                   "GPU) or auto (cpu until the GPU path has been validated on a device)",
            .default_value = "\"auto\"",
            .choices = {"auto", "cpu", "cuda"}},
           {.name = "epochs",
            .type = T::integer,
            .doc = "number of training epochs",
            .default_value = "1",
            .min = 1.0,
            .max = 1e6},
           {.name = "threads",
            .type = T::integer,
            .doc = "worker threads for the pipeline (0 = all cores)",
            .default_value = "0",
            .min = 0.0,
            .max = 4096.0},
           {.name = "omp_threads",
            .type = T::integer,
            .doc = "OpenMP threads for oneDNN layers (0 = same as threads)",
            .default_value = "0",
            .min = 0.0,
            .max = 4096.0},
           {.name = "in_flight",
            .type = T::integer,
            .doc = "batches in flight at once (0 = 2 x threads + 2)",
            .default_value = "0",
            .min = 0.0,
            .max = 4096.0},
           {.name = "time_limit",
            .type = T::string,
            .doc = "stop cleanly once this much time has passed (\"11h50m\", \"90m\", \"45s\"; "
                   "\"\" = none): at the first train step boundary after it, the run saves its "
                   "position inside the epoch and exits with status 75; --resume continues it "
                   "exactly (leave time for the checkpoint write and the pass in progress when "
                   "it is not a train pass)",
            .default_value = "\"\""},
           {.name = "tf32",
            .type = T::boolean,
            .doc = "device = cuda: let convolutions use TF32 tensor cores (PyTorch's cuDNN "
                   "default; much faster, about 1e-3 relative error); off keeps the GPU within "
                   "float rounding of the CPU",
            .default_value = "false"},
           {.name = "precision",
            .type = T::string,
            .doc = "arithmetic of convolutions and matmuls: f32, or bf16 (bfloat16 inputs, f32 "
                   "sums and outputs; master weights, batch norm, loss and optimizer stay f32). "
                   "bf16 runs on device = cpu with AVX-512 BF16 or AMX (oneDNN; refused on a CPU "
                   "without them) and on cuda (cuDNN / cuBLAS bf16 tensor cores; there "
                   "convolution outputs are rounded to bf16 once more, as in PyTorch's autocast)",
            .default_value = "\"f32\"",
            .choices = {"f32", "bf16"}}},
      .check =
          [](const Params& p) {
            const std::string limit = p.get_string("time_limit");
            if (!limit.empty() && !parse_time_limit(limit))
              throw ConfigError(fmt::format(
                  "{}: \"{}\" is not a time limit: write hours, minutes and seconds, each a whole "
                  "number followed by its unit, in that order (\"11h50m\", \"90m\", \"45s\", "
                  "\"1h30m15s\"), more than zero in total; \"\" means none",
                  p.where("time_limit"), limit));
          },
  };
}

std::optional<StopPoint> run_all_passes(Pipeline& pipeline, const RunContext& ctx) {
  for (int epoch = ctx.start_epoch; epoch <= ctx.epochs; ++epoch) {
    pipeline.run_pass(Split::train, epoch, 0, epoch == ctx.start_epoch ? ctx.start_batch : 0);
    if (const auto at = pipeline.stopped_at()) return StopPoint{epoch, *at};
    pipeline.run_pass(Split::val, epoch);
    pipeline.end_epoch(epoch);
  }
  pipeline.run_pass(Split::test, ctx.epochs);
  pipeline.finish();
  return std::nullopt;
}

}  // namespace ft

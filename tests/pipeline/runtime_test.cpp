// The flow-graph runtime: batches flow through every stage, serial stages see sequence order,
// the in-flight bound holds, an exception surfaces with its stage id, and the profiler reports.
#include "pipeline/runtime.hpp"

#include <doctest/doctest.h>
#include <tbb/global_control.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "tests/pipeline/fake_stages.hpp"

using namespace ft;

namespace {

std::string chain(int batches, int work_sleep_us, int sink_sleep_us, int fail_at = -1) {
  return "[[stage]]\nid = \"src\"\nkind = \"count\"\nbatches = " + std::to_string(batches) +
         "\n[[stage]]\nid = \"w\"\nkind = \"work\"\nafter = \"src\"\nsleep_us = " +
         std::to_string(work_sleep_us) + "\nfail_at = " + std::to_string(fail_at) +
         "\n[[stage]]\nid = \"out\"\nkind = \"sink\"\nafter = \"w\"\nsleep_us = " +
         std::to_string(sink_sleep_us) + "\n";
}

struct Fixture {
  Config cfg;
  ResolvedGraph graph;
  RunContext ctx;
  Registry registry = testing::fake_registry();
  explicit Fixture(const std::string& text, int threads) {
    cfg = parse_config(text, "t.toml");
    graph = resolve_graph(cfg, registry);
    ctx.config = &cfg.root;
    ctx.threads = threads;
    testing::sink_log().seqs.clear();
    testing::sink_log().first_index.clear();
  }
};

}  // namespace

TEST_CASE("every batch reaches the serial sink, in sequence order, with 1 and 4 threads") {
  for (int threads : {1, 4}) {
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism, threads);
    // The worker's sleep varies so batches finish out of order before the sequencer.
    Fixture f(chain(40, 300, 0), threads);
    Pipeline p(f.graph, f.ctx, 6);
    p.setup();
    CHECK(p.run_pass(Split::train, 1) == 40);
    const auto& seqs = testing::sink_log().seqs;
    REQUIRE(seqs.size() == 40);
    for (std::size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == i);
    CHECK(testing::sink_log().first_index[39] == 39 * 4);
    // A split the source does not have is an empty pass.
    CHECK(p.run_pass(Split::val, 1) == 0);
  }
}

TEST_CASE("the number of batches in flight never exceeds the token count") {
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 4);
  Fixture f(chain(60, 0, 2000),
            4);  // a slow consumer: without the limiter the source would race ahead
  Pipeline p(f.graph, f.ctx, 3);
  p.setup();
  p.run_pass(Split::train, 1);
  CHECK(p.peak_in_flight() >= 2);
  CHECK(p.peak_in_flight() <= 3);
  // The profiler sees the slow sink as the bottleneck and the stages before it as blocked.
  const auto r = p.profiler().report();
  CHECK(r.stages[r.bottleneck].id == "out");
  CHECK(r.stages[2].busy > 0.8);
  CHECK(r.stages[1].blocked > r.stages[1].starved);
  CHECK(r.batches == 60);
  CHECK(r.samples == 240);
  CHECK(r.text().find("bottleneck: 'out' (sink)") != std::string::npos);
}

TEST_CASE("a slow source makes downstream stages starved, not blocked") {
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 2);
  Fixture f(chain(20, 0, 0), 2);
  // Make the worker the only slow stage with one slot: the sink is starved.
  f.cfg = parse_config(chain(20, 3000, 0) + "", "t.toml");
  f.cfg.stages[1].concurrency = 1;
  f.graph = resolve_graph(f.cfg, f.registry);
  Pipeline p(f.graph, f.ctx, 8);
  p.setup();
  p.run_pass(Split::train, 1);
  const auto r = p.profiler().report();
  CHECK(r.stages[r.bottleneck].id == "w");
  CHECK(r.stages[2].starved > 0.8);
}

TEST_CASE("an exception in a stage cancels the graph and surfaces with the stage id and batch") {
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 2);
  Fixture f(chain(30, 100, 0, 7), 2);
  Pipeline p(f.graph, f.ctx, 4);
  p.setup();
  try {
    p.run_pass(Split::train, 3);
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("stage 'w' (work), train epoch 3 batch 7: sample '28' is broken") !=
          std::string::npos);
  }
  // Later batches never reached the sink past the failure point in order.
  CHECK(testing::sink_log().seqs.size() < 30);
}

TEST_CASE("the Chrome trace is valid JSON-shaped with a slice per stage per batch") {
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 2);
  Fixture f(chain(5, 0, 0), 2);
  Pipeline p(f.graph, f.ctx, 4);
  p.setup();
  p.run_pass(Split::train, 1);
  const auto path = std::filesystem::temp_directory_path() / "ft_trace_test.json";
  p.profiler().write_trace(path.string());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  CHECK(text.rfind("{\"traceEvents\":[", 0) == 0);
  CHECK(std::count(text.begin(), text.end(), '\n') >= 15);
  std::size_t slices = 0;
  for (std::size_t at = 0; (at = text.find("\"ph\":\"X\"", at)) != std::string::npos; ++at)
    ++slices;
  CHECK(slices == 15);  // 5 batches x 3 stages
  CHECK(text.find("\"thread_name\"") != std::string::npos);
  std::filesystem::remove(path);
}

TEST_CASE(
    "the report covers several passes: gaps between them, fractions of the passes a stage ran in") {
  tbb::global_control gc(tbb::global_control::max_allowed_parallelism, 2);
  Fixture f(chain(8, 500, 0), 2);
  Pipeline p(f.graph, f.ctx, 4);
  p.setup();
  p.run_pass(Split::train, 1);
  p.run_pass(Split::train, 2);
  p.run_pass(Split::train, 3);
  const auto r = p.profiler().report();
  CHECK(r.batches == 24);
  CHECK(r.pass_gaps_ms.size() == 2);
  for (const auto& s : r.stages) {
    CAPTURE(s.id);
    CHECK(s.items == 24);
    CHECK(s.busy + s.starved + s.blocked <= doctest::Approx(1.0).epsilon(0.01));
  }
  CHECK(r.text().find("idle gap between passes") != std::string::npos);
}

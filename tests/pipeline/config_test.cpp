// Config parsing, overrides and every validation error, with the message content asserted.
#include <doctest/doctest.h>

#include "pipeline/config.hpp"
#include "pipeline/error.hpp"
#include "pipeline/graph.hpp"
#include "tests/pipeline/fake_stages.hpp"

using namespace ft;

namespace {

const char* kGood = R"([run]
name = "x"

[[stage]]
id = "src"
kind = "count"
batches = 3

[[stage]]
id = "w"
kind = "work"
after = "src"

[[stage]]
id = "out"
kind = "sink"
after = "w"
)";

std::string error_of(const std::string& text, std::vector<std::string> overrides = {}) {
  try {
    auto cfg = parse_config(text, "cfg.toml", overrides);
    resolve_graph(cfg, testing::fake_registry());
  } catch (const ConfigError& e) {
    CHECK(e.exit_code() == 2);
    return e.what();
  }
  return "";
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("a valid config resolves into a chain with kinds, access and concurrency") {
  auto cfg = parse_config(kGood, "cfg.toml");
  auto g = resolve_graph(cfg, testing::fake_registry());
  REQUIRE(g.chain.size() == 3);
  CHECK(g.chain[0].id == "src");
  CHECK(g.chain[1].id == "w");
  CHECK(g.chain[2].id == "out");
  CHECK(g.chain[0].params.get_int("batches") == 3);
  CHECK(g.chain[0].params.get_int("batch_size") == 4);  // default
  CHECK(g.chain[1].concurrency == 0);                    // unlimited
  CHECK(g.chain[2].concurrency == 1);                    // serial
  CHECK(g.chain[2].access.reads == std::vector<std::string>{"label"});
  CHECK(describe_graph(g).find("concurrency=serial") != std::string::npos);
}

TEST_CASE("stages may be declared in any order; the chain follows 'after'") {
  std::string text = R"([[stage]]
id = "out"
kind = "sink"
after = "w"
[[stage]]
id = "w"
kind = "work"
after = "src"
[[stage]]
id = "src"
kind = "count"
)";
  auto g = resolve_graph(parse_config(text, "c.toml"), testing::fake_registry());
  CHECK(g.chain[0].id == "src");
  CHECK(g.chain[2].id == "out");
}

TEST_CASE("validation errors name file:line:col, the stage and the key") {
  SUBCASE("TOML syntax") {
    auto e = error_of(replace(kGood, "batches = 3", "batches = = 3"));
    CHECK(e.find("cfg.toml:7:") != std::string::npos);
    CHECK(e.find("TOML syntax error") != std::string::npos);
  }
  SUBCASE("unknown kind lists the known kinds and suggests one") {
    auto e = error_of(replace(kGood, "kind = \"work\"", "kind = \"wrok\""));
    CHECK(e.find("cfg.toml:9:") != std::string::npos);
    CHECK(e.find("unknown kind 'wrok'") != std::string::npos);
    CHECK(e.find("did you mean 'work'") != std::string::npos);
    CHECK(e.find("known kinds: count, sink, work") != std::string::npos);
  }
  SUBCASE("unknown parameter") {
    auto e = error_of(replace(kGood, "batches = 3", "batchs = 3"));
    CHECK(e.find("cfg.toml:7:") != std::string::npos);
    CHECK(e.find("stage 'src' (count) key 'batchs': unknown key (did you mean 'batches'?)") != std::string::npos);
  }
  SUBCASE("mistyped parameter") {
    auto e = error_of(replace(kGood, "batches = 3", "batches = \"3\""));
    CHECK(e.find("key 'batches': expected a integer") != std::string::npos);
  }
  SUBCASE("out of range") {
    auto e = error_of(replace(kGood, "batches = 3", "batch_size = 0"));
    CHECK(e.find("key 'batch_size': 0 is out of range: expected in [1, 1024]") != std::string::npos);
  }
  SUBCASE("not one of the choices") {
    auto e = error_of(replace(kGood, "batches = 3", "mode = \"c\""));
    CHECK(e.find("key 'mode': 'c' is not one of: a, b") != std::string::npos);
  }
  SUBCASE("dangling input") {
    auto e = error_of(replace(kGood, "after = \"w\"", "after = \"ww\""));
    CHECK(e.find("stage 'out' key 'after': no stage with id 'ww' (did you mean 'w'?)") != std::string::npos);
  }
  SUBCASE("cycle") {
    auto text = replace(replace(kGood, "kind = \"count\"", "kind = \"count\"\nafter = \"out\""), "", "");
    auto e = error_of(text);
    CHECK(e.find("cycle") != std::string::npos);
    CHECK(e.find("src -> out -> w -> src") != std::string::npos);
  }
  SUBCASE("a column read but written by no upstream stage") {
    auto e = error_of(replace(kGood, "after = \"src\"", "after = \"src\"\nreads = [\"image\"]"));
    CHECK(e.find("stage 'w' (work) reads column 'image', which no upstream stage active in the train split writes") !=
          std::string::npos);
  }
  SUBCASE("a column written only in another split") {
    auto e = error_of(replace(kGood, "after = \"src\"", "after = \"src\"\nsplits = [\"val\"]"));
    CHECK(e.find("stage 'out' (sink) reads column 'label'") != std::string::npos);
  }
  SUBCASE("duplicate id") {
    auto e = error_of(replace(kGood, "id = \"w\"", "id = \"src\""));
    CHECK(e.find("duplicate stage id 'src'") != std::string::npos);
  }
  SUBCASE("two stages after one") {
    auto e = error_of(replace(kGood, "after = \"w\"", "after = \"src\""));
    CHECK(e.find("both come after 'src'") != std::string::npos);
  }
  SUBCASE("unknown run-level table") {
    auto e = error_of(std::string("[rnu]\nx = 1\n") + kGood);
    CHECK(e.find("cfg.toml:1:1: unknown table 'rnu' (did you mean 'run'?)") != std::string::npos);
  }
  SUBCASE("unknown key in [run]") {
    auto e = error_of(replace(kGood, "name = \"x\"", "epochz = 2"));
    CHECK(e.find("[run] key 'epochz': unknown key (did you mean 'epochs'?)") != std::string::npos);
  }
  SUBCASE("a serial stage with concurrency") {
    auto e = error_of(replace(kGood, "after = \"w\"", "after = \"w\"\nconcurrency = 4"));
    CHECK(e.find("stateful and runs serially") != std::string::npos);
  }
  SUBCASE("stage without a kind") {
    auto e = error_of(replace(kGood, "kind = \"sink\"", ""));
    CHECK(e.find("has no 'kind'") != std::string::npos);
  }
}

TEST_CASE("--set overrides") {
  SUBCASE("run-level key") {
    auto cfg = parse_config(kGood, "c.toml", {"run.epochs=3"});
    CHECK(cfg.root["run"]["epochs"].value<std::int64_t>() == 3);
  }
  SUBCASE("stage key by id and by stage.<id>; unquoted strings") {
    auto cfg = parse_config(kGood, "c.toml", {"src.batches=7", "stage.src.mode=b"});
    auto g = resolve_graph(cfg, testing::fake_registry());
    CHECK(g.chain[0].params.get_int("batches") == 7);
    CHECK(g.chain[0].params.get_string("mode") == "b");
  }
  SUBCASE("replace a stage's kind") {
    auto cfg = parse_config(kGood, "c.toml", {"w.kind=sink"});
    CHECK(cfg.stages[1].kind == "sink");
  }
  SUBCASE("array elements: replace, insert, append, delete") {
    const std::string text = std::string(kGood) + "[x]\nops = [ {op=\"a\"}, {op=\"b\"} ]\n";
    toml::table root = toml::parse(text);
    apply_override(root, "x.ops.1.op=c");
    CHECK(root["x"]["ops"][1]["op"].value<std::string>() == "c");
    apply_override(root, "x.ops.+1={op=\"ins\"}");
    CHECK(root["x"]["ops"][1]["op"].value<std::string>() == "ins");
    CHECK(root["x"]["ops"].as_array()->size() == 3);
    apply_override(root, "x.ops.+={op=\"end\"}");
    CHECK(root["x"]["ops"][3]["op"].value<std::string>() == "end");
    apply_override(root, "x.ops.0=~");
    CHECK(root["x"]["ops"][0]["op"].value<std::string>() == "ins");
    CHECK(root["x"]["ops"].as_array()->size() == 3);
  }
  SUBCASE("errors") {
    CHECK_THROWS_WITH_AS(parse_config(kGood, "c.toml", {"novalue"}), doctest::Contains("expected KEY=VALUE"), ConfigError);
    CHECK_THROWS_WITH_AS(parse_config(kGood, "c.toml", {"stage.nope.x=1"}), doctest::Contains("no stage with id 'nope'"),
                         ConfigError);
    CHECK_THROWS_WITH_AS(parse_config(kGood, "c.toml", {"run.name.x.y=~"}), doctest::Contains("neither a table"),
                         ConfigError);
  }
  SUBCASE("overridden values are validated and named as --set") {
    auto e = error_of(kGood, {"src.batches=-1"});
    CHECK(e.find("(--set): stage 'src' (count) key 'batches': -1 is out of range") != std::string::npos);
  }
}

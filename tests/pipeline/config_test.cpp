// Config parsing, overrides and every validation error, with the message content asserted.
#include "pipeline/config.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

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
  // The graph points into the registry (kinds, schemas) and the config (parameter tables): both
  // outlive it.
  const Registry registry = testing::fake_registry();
  auto g = resolve_graph(cfg, registry);
  REQUIRE(g.chain.size() == 3);
  CHECK(g.chain[0].id == "src");
  CHECK(g.chain[1].id == "w");
  CHECK(g.chain[2].id == "out");
  CHECK(g.chain[0].params.get_int("batches") == 3);
  CHECK(g.chain[0].params.get_int("batch_size") == 4);  // default
  CHECK(g.chain[1].concurrency == 0);                   // unlimited
  CHECK(g.chain[2].concurrency == 1);                   // serial
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
  const Config cfg = parse_config(text, "c.toml");
  const Registry registry = testing::fake_registry();
  auto g = resolve_graph(cfg, registry);
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
    CHECK(e.find("stage 'src' (count) key 'batchs': unknown key (did you mean 'batches'?)") !=
          std::string::npos);
  }
  SUBCASE("mistyped parameter") {
    auto e = error_of(replace(kGood, "batches = 3", "batches = \"3\""));
    CHECK(e.find("key 'batches': expected a integer") != std::string::npos);
  }
  SUBCASE("out of range") {
    auto e = error_of(replace(kGood, "batches = 3", "batch_size = 0"));
    CHECK(e.find("key 'batch_size': 0 is out of range: expected in [1, 1024]") !=
          std::string::npos);
  }
  SUBCASE("not one of the choices") {
    auto e = error_of(replace(kGood, "batches = 3", "mode = \"c\""));
    CHECK(e.find("key 'mode': 'c' is not one of: a, b") != std::string::npos);
  }
  SUBCASE("dangling input") {
    auto e = error_of(replace(kGood, "after = \"w\"", "after = \"ww\""));
    CHECK(e.find("stage 'out' key 'after': no stage with id 'ww' (did you mean 'w'?)") !=
          std::string::npos);
  }
  SUBCASE("cycle") {
    auto text =
        replace(replace(kGood, "kind = \"count\"", "kind = \"count\"\nafter = \"out\""), "", "");
    auto e = error_of(text);
    CHECK(e.find("cycle") != std::string::npos);
    CHECK(e.find("src -> out -> w -> src") != std::string::npos);
  }
  SUBCASE("a column read but written by no upstream stage") {
    auto e = error_of(replace(kGood, "after = \"src\"", "after = \"src\"\nreads = [\"image\"]"));
    CHECK(e.find("stage 'w' (work) reads column 'image', which no upstream stage active in the "
                 "train split writes") != std::string::npos);
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
    const Registry registry = testing::fake_registry();
    auto g = resolve_graph(cfg, registry);
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
    CHECK_THROWS_WITH_AS(parse_config(kGood, "c.toml", {"novalue"}),
                         doctest::Contains("expected KEY=VALUE"), ConfigError);
    CHECK_THROWS_WITH_AS(parse_config(kGood, "c.toml", {"stage.nope.x=1"}),
                         doctest::Contains("no stage with id 'nope'"), ConfigError);
    CHECK_THROWS_WITH_AS(parse_config(kGood, "c.toml", {"run.name.x.y=~"}),
                         doctest::Contains("neither a table"), ConfigError);
  }
  SUBCASE("overridden values are validated and named as --set") {
    auto e = error_of(kGood, {"src.batches=-1"});
    CHECK(e.find("(--set): stage 'src' (count) key 'batches': -1 is out of range") !=
          std::string::npos);
  }
}

// Hostile input: integers at and beyond the double-exact range (2^53) are range-checked exactly,
// with the value as written; toml++ refuses to convert them to double, which used to read an
// empty optional (a different garbage number each run, and -2^63 epochs accepted).
TEST_CASE("integer ranges are exact over the whole 64-bit range") {
  SUBCASE("the most negative integer is below min") {
    auto e = error_of(replace(kGood, "name = \"x\"", "epochs = -9223372036854775808"));
    CHECK(e.find("cfg.toml:2:10: [run] key 'epochs': -9223372036854775808 is out of range: "
                 "expected >= 1") != std::string::npos);
  }
  SUBCASE("the largest integer is above max") {
    auto e = error_of(replace(kGood, "batches = 3", "batch_size = 9223372036854775807"));
    CHECK(e.find("cfg.toml:7:14: stage 'src' (count) key 'batch_size': 9223372036854775807 is out "
                 "of range: expected in [1, 1024]") != std::string::npos);
  }
  SUBCASE("2^53 + 1 in a list, from --set") {
    auto e = error_of(kGood, {"src.batch_size=9007199254740993"});
    CHECK(e.find("(--set): stage 'src' (count) key 'batch_size': 9007199254740993 is out of "
                 "range") != std::string::npos);
  }
  SUBCASE("exact at the bounds") {
    CHECK(error_of(replace(kGood, "batches = 3", "batch_size = 1024")).empty());
    CHECK(
        error_of(replace(kGood, "batches = 3", "batch_size = 1025")).find("1025 is out of range") !=
        std::string::npos);
    CHECK(error_of(replace(kGood, "batches = 3", "batches = 9223372036854775807")).empty());
  }
  SUBCASE("a value beyond 64 bits is a TOML error naming it") {
    auto e = error_of(replace(kGood, "batches = 3", "batches = 9223372036854775808"));
    CHECK(e.find("cfg.toml:7:") != std::string::npos);
    CHECK(e.find("not representable in 64 bits") != std::string::npos);
  }
  SUBCASE("a stage's concurrency") {
    auto e =
        error_of(replace(kGood, "after = \"src\"", "after = \"src\"\nconcurrency = 4294967297"));
    CHECK(e.find("stage 'w' key 'concurrency': expected an integer in [0, 4096] (0 = unlimited), "
                 "got 4294967297") != std::string::npos);
  }
  SUBCASE("a number key given a huge integer reads as that number") {
    toml::table t{{"x", std::int64_t{1} << 62}};
    static const std::vector<ParamSpec> specs = {{"x", ParamType::number, "x", "0.0"}};
    Params p(t, "s", "c.toml", &specs);
    CHECK(p.get_number("x") == doctest::Approx(4.611686018427388e18));
  }
}

TEST_CASE("--set: an array index too large for 64 bits is named, not a bare stoul error") {
  const std::string text = std::string(kGood) + "[x]\nops = [ {op=\"a\"}, {op=\"b\"} ]\n";
  toml::table root = toml::parse(text);
  for (const std::string& key : {"x.ops.99999999999999999999.op=c", "x.ops.99999999999999999999=~",
                                 "x.ops.+99999999999999999999={op=\"c\"}"}) {
    CAPTURE(key);
    try {
      apply_override(root, key);
      FAIL("accepted");
    } catch (const ConfigError& e) {
      const std::string m = e.what();
      CHECK(m.find("--set '" + key + "'") == 0);
      CHECK((m.find("'99999999999999999999' is not an index of an array of 2 elements") !=
                 std::string::npos ||
             m.find("cannot insert at '+99999999999999999999'") != std::string::npos));
    }
  }
}

TEST_CASE("only a regular file is read as a config; errors carry the system's reason") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ft_cfg_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto error_of_load = [](const fs::path& p) {
    try {
      load_config(p.string());
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(error_of_load(dir) ==
        dir.string() + ": the config file is a directory, not a regular file");
  const fs::path fifo = dir / "cfg.toml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Opening a FIFO without a writer used to block forever; now it is refused at once.
  CHECK(error_of_load(fifo) ==
        fifo.string() + ": the config file is a FIFO (named pipe), not a regular file");
  CHECK(error_of_load(dir / "missing.toml") ==
        (dir / "missing.toml").string() +
            ": cannot open the config file: No such file or directory");

  // Writing the resolved config: the reason comes with the error.
  const toml::table root = toml::parse(kGood);
  CHECK_THROWS_WITH_AS(write_config_file(dir / "no" / "such" / "config.toml", root),
                       doctest::Contains("config.toml.tmp: cannot write the resolved config: "
                                         "cannot create: No such file or directory"),
                       Error);
  write_config_file(dir / "config.toml", root, "# header\n");
  const Config back = load_config((dir / "config.toml").string());
  CHECK(back.root["run"]["name"].value<std::string>() == "x");
  CHECK(!fs::exists(dir / "config.toml.tmp"));
  fs::remove_all(dir);
}

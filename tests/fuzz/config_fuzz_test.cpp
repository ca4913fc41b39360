// Fuzz target (a): a config text and `--set` overrides through everything that reads them before
// a run starts: load + overrides + graph validation + the run context (prepare_run, as
// `--dry-run`), the [model]/[optimizer]/[schedule] state and the schedule (as `flowtrain
// schedule`). ft::Error is the expected failure; the resolved config a run would write must parse
// and validate again. Seeds: the repository's configs/**/*.toml.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/run.hpp"
#include "pipeline/error.hpp"
#include "stages/augment/augment_stage.hpp"
#include "stages/train/train_state.hpp"
#include "tests/fuzz/fuzz_driver.hpp"
#include "tests/fuzz/targets.hpp"

using namespace ft;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kSeed = 0x5eed0c0f;
// About 2-3 s in a release build on a loaded 2-core machine.
constexpr std::int64_t kIterations = 6000;

const std::vector<std::string> kValues = {"0",
                                          "-1",
                                          "1",
                                          "2",
                                          "-0",
                                          "7",
                                          "65536",
                                          "2147483648",
                                          "4294967296",
                                          "1000000",
                                          "1e9",
                                          "9223372036854775807",
                                          "-9223372036854775808",
                                          "9223372036854775808",
                                          "18446744073709551616",
                                          "0x7fffffffffffffff",
                                          "0.5",
                                          "-0.5",
                                          "1e308",
                                          "-1e308",
                                          "1e-308",
                                          "5e-324",
                                          "inf",
                                          "-inf",
                                          "nan",
                                          "true",
                                          "false",
                                          "\"\"",
                                          "\"x\"",
                                          "\"../../x\"",
                                          "\"/tmp\"",
                                          "\".\"",
                                          "\"..\"",
                                          "\"train\"",
                                          "\"cuda\"",
                                          "\"cpu\"",
                                          "\"step\"",
                                          "\"epoch\"",
                                          "[]",
                                          "[0]",
                                          "[1, 2, 3]",
                                          "[1000000, 1, 1]",
                                          "[-1]",
                                          "[\"train\"]",
                                          "[\"val\", \"test\"]",
                                          "{}",
                                          "{ op = \"hflip\" }",
                                          "[ { op = \"random_crop\", size = 50000 } ]",
                                          "{ from = \"train\", fraction = 0.1 }",
                                          "1979-05-27T07:32:00Z",
                                          "~"};

const std::vector<std::string> kSyntax = {
    "=",  "[",  "]",           "{",       "}",      "\"",  "'",       ".",  ",",
    "#",  "\n", "[[stage]]\n", "[run]\n", "\"\"\"", "'''", "\\u0000", "\\", " = ",
    "[[", "]]", "-",           "+",       "_",      "e",   ":",       "\t"};

struct Corpus {
  std::vector<std::string> seeds;   // config texts
  std::vector<std::string> keys;    // every key name a config may hold
  std::vector<std::string> paths;   // `--set` paths that exist in some seed
  std::vector<std::string> tokens;  // for byte-level insertion
};

void collect_paths(const toml::node& n, const std::string& prefix, std::vector<std::string>& out) {
  if (auto* t = n.as_table()) {
    for (auto&& [k, v] : *t) {
      const std::string p =
          prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      out.push_back(p);
      collect_paths(v, p, out);
    }
  } else if (auto* a = n.as_array()) {
    out.push_back(prefix + ".+");
    out.push_back(prefix + ".+0");
    for (std::size_t i = 0; i < a->size(); ++i) {
      out.push_back(prefix + "." + std::to_string(i));
      collect_paths(*a->get(i), prefix + "." + std::to_string(i), out);
    }
  }
}

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus c;
    const char* root = std::getenv("FT_SOURCE_ROOT");
    std::vector<fs::path> files;
    for (auto& e : fs::recursive_directory_iterator(fs::path(root ? root : ".") / "configs"))
      if (e.path().extension() == ".toml") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f);
      std::ostringstream s;
      s << in.rdbuf();
      c.seeds.push_back(s.str());
      const toml::table t = toml::parse(c.seeds.back(), f.string());
      for (auto&& [k, v] : t) {
        if (k.str() != "stage") {
          collect_paths(v, std::string(k.str()), c.paths);
          continue;
        }
        for (auto& st : *v.as_array()) {
          const std::string id = st.as_table()->get("id")->value_or<std::string>("");
          std::vector<std::string> p;
          collect_paths(st, id, p);
          for (auto& x : p) c.paths.push_back(x), c.paths.push_back("stage." + x);
        }
      }
    }
    const Registry& r = builtin_registry();
    for (auto& [name, s] : r.sections()) {
      c.keys.push_back(name);
      for (auto& p : s.params) c.keys.push_back(p.name);
    }
    for (auto& [name, k] : r.kinds()) {
      c.keys.push_back(name);
      for (auto& p : k.params) {
        c.keys.push_back(p.name);
        for (auto& ch : p.choices) c.keys.push_back(ch);
      }
    }
    for (auto& op : augment_op_names()) c.keys.push_back(op);
    for (const char* k :
         {"id",   "kind",     "after",  "inputs", "splits", "concurrency", "op",
          "from", "fraction", "format", "images", "labels", "size",        "padding",
          "p",    "mean",     "std",    "scale",  "ratio",  "degrees",     "fill"})
      c.keys.push_back(k);
    std::sort(c.keys.begin(), c.keys.end());
    c.keys.erase(std::unique(c.keys.begin(), c.keys.end()), c.keys.end());
    std::sort(c.paths.begin(), c.paths.end());
    c.paths.erase(std::unique(c.paths.begin(), c.paths.end()), c.paths.end());
    c.tokens = kSyntax;
    c.tokens.insert(c.tokens.end(), c.keys.begin(), c.keys.end());
    c.tokens.insert(c.tokens.end(), kValues.begin(), kValues.end());
    return c;
  }();
  return c;
}

// The end of the TOML value that starts at `from`: the next newline, or a ',' '}' ']' outside
// brackets and strings.
std::size_t value_end(const std::string& s, std::size_t from) {
  int depth = 0;
  char quote = 0;
  for (std::size_t i = from; i < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
      if (c == '\n') return i;
      continue;
    }
    if (c == '"' || c == '\'')
      quote = c;
    else if (c == '[' || c == '{')
      ++depth;
    else if (c == '\n' || ((c == ',' || c == '}' || c == ']') && depth == 0))
      return i;
    else if (c == ']' || c == '}')
      --depth;
  }
  return s.size();
}

std::vector<std::size_t> line_starts(const std::string& s) {
  std::vector<std::size_t> v{0};
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] == '\n') v.push_back(i + 1);
  return v;
}

void mutate_config(std::string& s, fuzz::Rng& rng, const Corpus& c) {
  const auto lines = line_starts(s);
  const auto line_at = [&](std::size_t k) {
    const std::size_t b = lines[k], e = s.find('\n', b);
    return std::pair{b, e == std::string::npos ? s.size() : e + 1};
  };
  switch (rng.below(10)) {
    case 0:
    case 1:
    case 2: {  // another value for an existing key
      std::vector<std::size_t> eqs;
      for (std::size_t i = 0; i < s.size(); ++i)
        if (s[i] == '=') eqs.push_back(i);
      if (eqs.empty()) break;
      std::size_t b = rng.pick(eqs) + 1;
      while (b < s.size() && s[b] == ' ') ++b;
      s.replace(b, value_end(s, b) - b, rng.chance(4) ? rng.pick(c.keys) : rng.pick(kValues));
      break;
    }
    case 3: {  // a new key in some table
      const auto [b, e] = line_at(rng.below(lines.size()));
      s.insert(e, rng.pick(c.keys) + " = " + rng.pick(kValues) + "\n");
      break;
    }
    case 4: {
      const auto [b, e] = line_at(rng.below(lines.size()));
      s.erase(b, e - b);
      break;
    }
    case 5: {
      const auto [b, e] = line_at(rng.below(lines.size()));
      s.insert(e, s.substr(b, e - b));
      break;
    }
    case 6: {  // a table header somewhere
      const auto [b, e] = line_at(rng.below(lines.size()));
      s.insert(b, rng.chance(2) ? std::string("[[stage]]\n") : "[" + rng.pick(c.keys) + "]\n");
      break;
    }
    default:
      fuzz::mutate_bytes(s, rng, c.tokens);
  }
}

fuzz::Input generate(fuzz::Rng& rng) {
  const Corpus& c = corpus();
  fuzz::Input in;
  in.data = rng.pick(c.seeds);
  const std::size_t mutations = rng.chance(3) ? 0 : 1 + rng.below(rng.chance(4) ? 12 : 3);
  for (std::size_t k = 0; k < mutations; ++k) mutate_config(in.data, rng, c);
  const std::size_t sets = rng.chance(2) ? 0 : 1 + rng.below(3);
  for (std::size_t k = 0; k < sets; ++k) {
    std::string path = rng.pick(c.paths);
    if (rng.chance(5)) path += "." + rng.pick(c.keys);
    if (rng.chance(8))
      path += "." + rng.pick(std::vector<std::string>{"0", "+", "+1", "99999999999999999999"});
    std::string set = path + "=" + (rng.chance(5) ? rng.pick(c.keys) : rng.pick(kValues));
    if (rng.chance(4)) fuzz::mutate_bytes(set, rng, c.tokens);
    in.args.push_back(set);
  }
  if (mutations == 0 && sets == 0) mutate_config(in.data, rng, c);
  return in;
}

class ConfigTarget {
 public:
  ConfigTarget()
      : path_((fs::temp_directory_path() / ("ft_fuzz_" + std::to_string(::getpid()) + ".toml"))
                  .string()),
        resolved_path_(path_ + ".resolved.toml") {}
  ~ConfigTarget() {
    std::error_code ec;
    fs::remove(path_, ec);
    fs::remove(resolved_path_, ec);
  }

  void operator()(const fuzz::Input& in) const {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << in.data;
    std::string resolved;
    try {
      resolved = fuzz::load_config_as_run_would(path_, in.args);
    } catch (const Error& e) {
      check_not_internal(e);
      return;
    }
    // The resolved config (the run folder's config.toml, the checkpoints' config) loads again.
    std::ofstream(resolved_path_, std::ios::binary | std::ios::trunc) << resolved;
    try {
      fuzz::load_config_as_run_would(resolved_path_, {});
    } catch (const Error& e) {
      throw fuzz::OracleFailure(std::string("the resolved config does not load again: ") +
                                e.what());
    }
  }

 private:
  static void check_not_internal(const Error& e) {
    if (std::string(e.what()).find("internal error") != std::string::npos)
      throw fuzz::OracleFailure(e.what());
  }
  std::string path_, resolved_path_;
};

}  // namespace

std::string ft::fuzz::load_config_as_run_would(const std::string& path,
                                               const std::vector<std::string>& sets) {
  RunOptions opt;
  opt.config_path = path;
  opt.overrides = sets;
  opt.dry_run = true;
  PreparedRun p = prepare_run(opt, /*create_run_dir=*/false);
  (void)describe_graph(p.graph);
  p.ctx.config = &p.config.root;
  auto state = TrainState::get(p.ctx);
  state->prepare_schedule(50);  // batches per epoch, as `flowtrain schedule` learns from the data
  (void)state->describe_schedule();
  if (p.ctx.epochs <= 1000) (void)state->schedule_rows(false);
  return to_toml_text(p.config.root);
}

TEST_CASE("fuzz: config text and --set overrides fail only with ft::Error (bounded, fixed seed)") {
  const ConfigTarget target;
  fuzz::Target t{"config", generate, [&](const fuzz::Input& in) { target(in); }, {}};
  const fuzz::Report r = fuzz::run_fuzz(t, fuzz::Options::from_env(kSeed, kIterations));
  MESSAGE("config fuzz: " << r.iterations << " inputs in " << r.seconds << " s");
  CHECK(r.iterations > 0);
  for (const auto& f : r.findings)
    FAIL_CHECK("config fuzz finding at iteration " << f.iteration << ": " << f.what);
}

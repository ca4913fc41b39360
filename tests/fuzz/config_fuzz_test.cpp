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
// About 3-4 s in a release build on a 2-core machine (7-9 s under tools/sanitize.sh).
constexpr std::int64_t kIterations = 10000;

// Values by TOML type ('|'-separated); a value is mostly replaced by one of its own type, so the
// config stays valid TOML and reaches the range checks.
std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::size_t b = 0;
  for (std::size_t e; (e = list.find('|', b)) != std::string::npos; b = e + 1)
    out.push_back(list.substr(b, e - b));
  out.push_back(list.substr(b));
  return out;
}
const std::vector<std::string> kIntegers = split(
    "0|-1|1|2|3|7|8|255|256|1023|1024|4095|4096|16384|16385|65535|65536|1000000|1000001|"
    "2147483647|2147483648|4294967295|4294967296|9007199254740993|9223372036854775807|"
    "-9223372036854775808|0x7fffffffffffffff|0b1|0o777|1_000");
const std::vector<std::string> kFloats = split(
    "0.0|-0.0|0.5|1.0|1.5|2.0|1e-9|1e9|1e18|1e19|1e308|-1e308|5e-324|inf|-inf|nan|+nan|0.999999|"
    "1.0000001|360.0|361.0|-360.0|9.3e18");
const std::vector<std::string> kStrings =
    split(R"(""|"x"|"train"|"val"|"test"|"cpu"|"cuda"|"auto"|"step"|"epoch"|"../x"|"/tmp"|"."|"..")"
          R"(|"a/b"|"a b"|"\u0000"|"csv"|"folder"|"imagefolder"|"unlabeled"|'lit'|"""multi""")");
const std::vector<std::string> kArrays = split(
    R"([]|[0]|[1]|[-1]|[1, 2, 3]|[1000000, 1, 1]|[1, 1, 1, 1, 1, 1, 1, 1, 1]|[0.5]|[nan]|[inf])"
    R"(|["train"]|["val", "test"]|[""]|[[]]|[{}]|[1, "x"])");
const std::vector<std::string> kOthers =
    split(R"(true|false|{}|{ op = "hflip" }|{ from = "train", fraction = 0.1 }|{ format = "csv" })"
          R"(|[ { op = "random_crop", size = 50000 } ]|1979-05-27T07:32:00Z|07:32:00|~)");
const std::vector<std::string> kValues = [] {
  std::vector<std::string> v;
  for (const auto* pool : {&kIntegers, &kFloats, &kStrings, &kArrays, &kOthers})
    v.insert(v.end(), pool->begin(), pool->end());
  return v;
}();

const std::vector<std::string> kSyntax = {
    "=",  "[",  "]",           "{",       "}",      "\"",  "'",       ".",  ",",
    "#",  "\n", "[[stage]]\n", "[run]\n", "\"\"\"", "'''", "\\u0000", "\\", " = ",
    "[[", "]]", "-",           "+",       "_",      "e",   ":",       "\t"};

struct Corpus {
  std::vector<std::string> seeds;    // config texts
  std::vector<std::string> strings;  // the seeds' string values (stage ids, kinds, ops), quoted
  std::vector<std::string> keys;     // every key name a config may hold
  std::vector<std::string> paths;    // `--set` paths that exist in some seed
  std::vector<std::string> tokens;   // for byte-level insertion
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

void collect_strings(const toml::node& n, std::vector<std::string>& out) {
  if (auto* t = n.as_table())
    for (auto&& [k, v] : *t) collect_strings(v, out);
  else if (auto* a = n.as_array())
    for (auto& v : *a) collect_strings(v, out);
  else if (auto* v = n.as_string())
    out.push_back("\"" + v->get() + "\"");
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
      collect_strings(t, c.strings);
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
        for (auto& ch : p.choices) c.strings.push_back("\"" + ch + "\"");
      }
    }
    for (auto& op : augment_op_names()) c.strings.push_back("\"" + op + "\"");
    for (auto& [name, k] : r.kinds()) c.strings.push_back("\"" + name + "\"");
    c.strings.insert(c.strings.end(), kStrings.begin(), kStrings.end());
    std::sort(c.strings.begin(), c.strings.end());
    c.strings.erase(std::unique(c.strings.begin(), c.strings.end()), c.strings.end());
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
    c.tokens.insert(c.tokens.end(), c.strings.begin(), c.strings.end());
    return c;
  }();
  return c;
}

// The end of the TOML value that starts at `from`: the next newline, ',', '}' or ']' outside
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
    else if ((c == '\n' || c == ',' || c == '}' || c == ']') && depth == 0)
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

// A value of the same TOML type as `old` (by its first character), now and then of any type.
std::string value_like(const std::string& old, fuzz::Rng& rng, const Corpus& c) {
  if (rng.chance(6) || old.empty()) return rng.chance(3) ? rng.pick(c.strings) : rng.pick(kValues);
  const char f = old[0];
  if (f == '"' || f == '\'') return rng.pick(c.strings);
  if (f == '[') return rng.pick(kArrays);
  if (f == 't' || f == 'f') return rng.chance(2) ? "true" : "false";
  if (old.find_first_of(".eEin") != std::string::npos) return rng.pick(kFloats);
  if ((f >= '0' && f <= '9') || f == '-' || f == '+') return rng.pick(kIntegers);
  return rng.pick(kOthers);
}

void mutate_config(std::string& s, fuzz::Rng& rng, const Corpus& c) {
  const auto lines = line_starts(s);
  const auto line_at = [&](std::size_t k) {
    const std::size_t b = lines[k], e = s.find('\n', b);
    return std::pair{b, e == std::string::npos ? s.size() : e + 1};
  };
  switch (rng.below(12)) {
    case 0:
    case 1:
    case 2:
    case 3: {  // another value for an existing key, or for one element of an array value
      std::vector<std::size_t> at;
      for (std::size_t i = 0; i < s.size(); ++i)
        if (s[i] == '=') at.push_back(i + 1);
      if (at.empty()) break;
      std::size_t b = rng.pick(at);
      while (b < s.size() && s[b] == ' ') ++b;
      std::size_t e = value_end(s, b);
      if (b < s.size() && s[b] == '[' && rng.chance(2)) {
        std::vector<std::size_t> elements{b + 1};
        int depth = 0;
        for (std::size_t i = b; i < e; ++i) {
          depth += (s[i] == '[' || s[i] == '{') - (s[i] == ']' || s[i] == '}');
          if (s[i] == ',' && depth == 1) elements.push_back(i + 1);
        }
        b = rng.pick(elements);
        while (b < s.size() && (s[b] == ' ' || s[b] == '\n')) ++b;
        e = value_end(s, b);
      }
      s.replace(b, e - b, value_like(s.substr(b, e - b), rng, c));
      break;
    }
    case 4: {  // a number nudged: off by one, negated, scaled
      std::vector<std::size_t> at;
      for (std::size_t i = 1; i < s.size(); ++i)
        if (s[i] >= '0' && s[i] <= '9' && (s[i - 1] == ' ' || s[i - 1] == '[' || s[i - 1] == ','))
          at.push_back(i);
      if (at.empty()) break;
      const std::size_t b = rng.pick(at);
      std::size_t e = b;
      while (e < s.size() && s[e] >= '0' && s[e] <= '9') ++e;
      const long long v = std::stoll(s.substr(b, std::min<std::size_t>(e - b, 15)));
      const long long nv[] = {v + 1, v - 1, -v, v * 1000, v / 2};
      s.replace(b, e - b, std::to_string(nv[rng.below(5)]));
      break;
    }
    case 5: {  // a new key in some table
      const auto [b, e] = line_at(rng.below(lines.size()));
      s.insert(e, rng.pick(c.keys) + " = " + value_like("", rng, c) + "\n");
      break;
    }
    case 6: {  // another key name
      const std::size_t eq = s.find(" = ", rng.below(s.size() + 1));
      if (eq == std::string::npos) break;
      std::size_t b = eq;
      while (b > 0 && s[b - 1] != '\n' && s[b - 1] != ' ' && s[b - 1] != '{' && s[b - 1] != ',')
        --b;
      s.replace(b, eq - b, rng.pick(c.keys));
      break;
    }
    case 7: {
      const auto [b, e] = line_at(rng.below(lines.size()));
      s.erase(b, e - b);
      break;
    }
    case 8: {  // a [[stage]] block copied to the end under another id
      std::vector<std::size_t> at;
      for (std::size_t i = s.find("[[stage]]"); i != std::string::npos;
           i = s.find("[[stage]]", i + 1))
        at.push_back(i);
      if (at.empty()) break;
      const std::size_t b = rng.pick(at), e = std::min(s.size(), s.find("[[stage]]", b + 1));
      std::string block = s.substr(b, e - b);
      if (const std::size_t id = block.find("id = \""); id != std::string::npos)
        block.insert(id + 6, rng.chance(2) ? "copy_" : "");
      s += "\n" + block;
      break;
    }
    case 9: {  // a table header somewhere
      const auto [b, e] = line_at(rng.below(lines.size()));
      s.insert(b, rng.chance(2) ? std::string("[[stage]]\n") : "[" + rng.pick(c.keys) + "]\n");
      break;
    }
    case 10:  // text: tokens and printable characters
      if (rng.chance(2)) {
        s.insert(rng.below(s.size() + 1), rng.pick(c.tokens));
      } else if (!s.empty()) {
        s[rng.below(s.size())] = static_cast<char>(' ' + rng.below(95));
      }
      break;
    default:
      fuzz::mutate_bytes(s, rng, c.tokens);
  }
}

fuzz::Input generate(fuzz::Rng& rng) {
  const Corpus& c = corpus();
  fuzz::Input in;
  in.data = rng.pick(c.seeds);
  const std::size_t mutations = rng.chance(4) ? 0 : 1 + rng.below(rng.chance(4) ? 8 : 2);
  for (std::size_t k = 0; k < mutations; ++k) mutate_config(in.data, rng, c);
  const std::size_t sets = rng.chance(2) ? 0 : 1 + rng.below(3);
  for (std::size_t k = 0; k < sets; ++k) {
    std::string path = rng.pick(c.paths);
    if (rng.chance(5)) path += "." + rng.pick(c.keys);
    if (rng.chance(8))
      path += "." + rng.pick(std::vector<std::string>{"0", "+", "+1", "99999999999999999999"});
    std::string set = path + "=" + value_like(rng.chance(2) ? "" : "0", rng, c);
    if (rng.chance(6)) fuzz::mutate_bytes(set, rng, c.tokens);
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

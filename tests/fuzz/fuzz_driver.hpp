// A bounded mutation fuzzer without libFuzzer: input i of a run is made from (seed, i) alone, so
// any finding replays with FT_FUZZ_SEED and FT_FUZZ_ONLY whatever the time budget was. A finding
// is anything a target lets escape (the target catches its own expected error type), an
// allocation over the bound, an input that runs past the time limit, or a crash; the input is
// printed as a C++ string literal (minimized where the process survives) to paste into a test.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ft::fuzz {

// splitmix64: tiny, fast, and every (seed, iteration) pair gives an independent stream.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool chance(unsigned one_in) { return below(one_in) == 0; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  std::uint64_t s_;
};

// One fuzz input: the bytes (config text, JPEG file) and the target's arguments (`--set`
// assignments, decode channel count).
struct Input {
  std::string data;
  std::vector<std::string> args;
};

// Thrown by a target when an oracle fails (e.g. the resolved config does not parse back).
struct OracleFailure : std::logic_error {
  using std::logic_error::logic_error;
};

struct Options {
  std::uint64_t seed = 0;
  std::int64_t iterations = 0;  // 0: no count limit (time budget only)
  double seconds = 0;           // 0: no time budget (iteration count only)
  std::int64_t only = -1;       // >= 0: run this one iteration (replay)
  double input_timeout_s = 20;  // one input running longer is a hang
  bool print_findings = true;   // to stderr (a crash or a hang is printed regardless)
  // From the environment: FT_FUZZ_SEED (a number, or "random": printed), FT_FUZZ_ITERATIONS,
  // FT_FUZZ_SECONDS (a budget: the count then defaults to unlimited), FT_FUZZ_ONLY,
  // FT_FUZZ_INPUT_TIMEOUT. Without them: `default_seed` and `default_iterations` (the bounded,
  // deterministic test mode).
  static Options from_env(std::uint64_t default_seed, std::int64_t default_iterations);
};

struct Finding {
  std::int64_t iteration = 0;
  std::string what;  // "std::out_of_range escaped: stoul", "allocation of 12 GB (bound 1 GB)"
  std::string key;   // `what` with digits dropped: one entry per distinct bug
  Input input;       // minimized
};

struct Target {
  std::string name;  // "config", "jpeg": in messages and replay hints
  std::function<Input(Rng&)> generate;
  std::function<void(const Input&)> run;  // throws only for findings
  // Keys of findings already reported with a regression test (tests/fuzz/findings_test.cpp):
  // printed as known, not counted. Remove an entry when its fix lands.
  std::vector<std::string> known;
};

struct Report {
  std::int64_t iterations = 0;
  double seconds = 0;
  std::vector<Finding> findings;  // new ones only
  std::vector<Finding> known;     // first input of each known key hit
};

Report run_fuzz(const Target& target, const Options& opt);

// `s` as a C++ string literal ("..." with \n, \", \\ and \xNN escapes; split after a \x escape
// so the next character is not read as part of it).
std::string cpp_literal(const std::string& s);

// Generic byte-level mutations: bit flip, random byte, interesting byte, insert or delete a span,
// duplicate a span, insert a dictionary token, truncate.
void mutate_bytes(std::string& s, Rng& rng, const std::vector<std::string>& dictionary);

}  // namespace ft::fuzz

// The fuzz loop (see fuzz_driver.hpp): generation from (seed, i), classification of each outcome,
// and minimization of the findings the process survives (fuzz_watch.cpp reports the others).
#include "tests/fuzz/fuzz_driver.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <set>
#include <typeinfo>

#include "tests/fuzz/alloc_bound.hpp"
#include "tests/fuzz/fuzz_watch.hpp"

namespace ft::fuzz {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::uint64_t stream_seed(std::uint64_t seed, std::int64_t i) {
  return seed ^ (static_cast<std::uint64_t>(i) * 0xD1B54A32D192ED03ull);
}

// ---- classification and minimization ------------------------------------------------------

std::string demangled(const std::type_info& t) {
  int status = 0;
  char* name = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string out = status == 0 && name ? name : t.name();
  std::free(name);
  return out;
}

std::string bytes_text(std::size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%zu bytes (%.1f GiB)", n, static_cast<double>(n) / (1 << 30));
  return buf;
}

// nullopt: an expected outcome.
std::optional<std::string> outcome(const Target& target, const Input& in) {
  std::optional<std::string> what;
  arm_allocation_bound(kDefaultAllocationBound);
  try {
    target.run(in);
  } catch (const OracleFailure& e) {
    what = std::string("oracle failed: ") + e.what();
  } catch (const std::exception& e) {
    if (refused_allocation() == 0) what = demangled(typeid(e)) + " escaped: " + e.what();
  } catch (...) {
    what = "a non-std exception escaped";
  }
  disarm_allocation_bound();
  if (const std::size_t n = refused_allocation())
    what = "an allocation of " + bytes_text(n) + " (bound " + bytes_text(kDefaultAllocationBound) +
           ")" + (what ? "; then " + *what : std::string());
  return what;
}

std::string key_of(const std::string& what) {
  std::string k;
  for (char c : what)
    if (c < '0' || c > '9') k += c;
  return k.substr(0, 72);
}

// Shrinks the input while it keeps giving the same finding: drop arguments, then delta-debug the
// data (halving chunk sizes down to one byte). Bounded in runs and time.
Input minimize(const Target& target, const Input& in, const std::string& key) {
  Input best = in;
  const auto t0 = Clock::now();
  int runs = 0;
  const auto same = [&](const Input& c) {
    ++runs;
    const auto w = outcome(target, c);
    return w && key_of(*w) == key;
  };
  const auto budget_left = [&] { return runs < 4000 && seconds_since(t0) < 5.0; };
  for (std::size_t a = 0; a < best.args.size() && budget_left();) {
    Input c = best;
    c.args.erase(c.args.begin() + static_cast<std::ptrdiff_t>(a));
    if (same(c))
      best = std::move(c);
    else
      ++a;
  }
  for (std::size_t chunk = best.data.size() / 2; chunk >= 1 && budget_left(); chunk /= 2) {
    for (std::size_t pos = 0; pos < best.data.size() && budget_left();) {
      Input c = best;
      c.data.erase(pos, chunk);
      if (same(c))
        best = std::move(c);
      else
        pos += chunk;
    }
  }
  return best;
}

}  // namespace

Options Options::from_env(std::uint64_t default_seed, std::int64_t default_iterations) {
  Options o;
  o.seed = default_seed;
  o.iterations = default_iterations;
  if (auto s = env("FT_FUZZ_SEED")) {
    if (*s == "random") {
      std::random_device rd;
      o.seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    } else {
      o.seed = std::strtoull(s->c_str(), nullptr, 0);
    }
  }
  if (auto s = env("FT_FUZZ_SECONDS")) {
    o.seconds = std::strtod(s->c_str(), nullptr);
    o.iterations = 0;
  }
  if (auto s = env("FT_FUZZ_ITERATIONS")) o.iterations = std::strtoll(s->c_str(), nullptr, 10);
  if (auto s = env("FT_FUZZ_ONLY")) o.only = std::strtoll(s->c_str(), nullptr, 10);
  if (auto s = env("FT_FUZZ_INPUT_TIMEOUT")) o.input_timeout_s = std::strtod(s->c_str(), nullptr);
  return o;
}

void mutate_bytes(std::string& s, Rng& rng, const std::vector<std::string>& dictionary) {
  static const unsigned char kInteresting[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, '0', '9', '-'};
  const std::size_t n = s.size();
  switch (rng.below(8)) {
    case 0:
      if (n) s[rng.below(n)] ^= static_cast<char>(1u << rng.below(8));
      break;
    case 1:
      if (n) s[rng.below(n)] = static_cast<char>(rng.next());
      break;
    case 2:
      if (n) s[rng.below(n)] = static_cast<char>(kInteresting[rng.below(sizeof kInteresting)]);
      break;
    case 3:
      if (n) s.erase(rng.below(n), 1 + rng.below(std::min<std::size_t>(n, 16)));
      break;
    case 4: {
      std::string ins(1 + rng.below(8), '\0');
      for (char& c : ins) c = static_cast<char>(rng.next());
      s.insert(rng.below(n + 1), ins);
      break;
    }
    case 5:
      if (n) {
        const std::size_t from = rng.below(n),
                          len = 1 + rng.below(std::min<std::size_t>(n - from, 64));
        s.insert(rng.below(n + 1), s.substr(from, len));
      }
      break;
    case 6:
      if (!dictionary.empty()) s.insert(rng.below(n + 1), rng.pick(dictionary));
      break;
    default:
      if (n) s.resize(rng.below(n));
      break;
  }
}

Report run_fuzz(const Target& target, const Options& opt) {
  Report report;
  const bool long_mode = opt.seconds > 0;
  const bool say = opt.print_findings && (long_mode || opt.only >= 0);
  if (say)
    std::fprintf(stderr, "fuzz %s: seed 0x%" PRIx64 ", %g s, %" PRId64 " iterations max\n",
                 target.name.c_str(), opt.seed, opt.seconds, opt.iterations);
  CrashReporting crash_reporting(target.name.c_str(), opt.seed);
  Watchdog watchdog(opt.input_timeout_s);
  std::set<std::string> seen;
  const auto t0 = Clock::now();
  auto last_progress = t0;
  const std::int64_t first = opt.only >= 0 ? opt.only : 0;
  for (std::int64_t i = first;; ++i) {
    if (opt.only >= 0 && i > opt.only) break;
    if (opt.only < 0 && opt.iterations > 0 && i >= opt.iterations) break;
    if (opt.only < 0 && opt.seconds > 0 && seconds_since(t0) >= opt.seconds) break;
    if (report.findings.size() >= 20) break;
    Rng rng(stream_seed(opt.seed, i));
    const Input in = target.generate(rng);
    begin_input(i, &in);
    const auto what = outcome(target, in);
    end_input();
    ++report.iterations;
    if (say && seconds_since(last_progress) >= 10) {
      last_progress = Clock::now();
      std::fprintf(stderr, "fuzz %s: %" PRId64 " inputs in %.0f s, %zu findings\n",
                   target.name.c_str(), report.iterations, seconds_since(t0),
                   report.findings.size());
    }
    if (!what) continue;
    const std::string key = key_of(*what);
    if (!seen.insert(key).second) continue;
    const bool known =
        std::find(target.known.begin(), target.known.end(), key) != target.known.end();
    Finding f{i, *what, key, known ? in : minimize(target, in, key)};
    if (known) {
      if (opt.print_findings)
        std::fprintf(stderr, "fuzz %s: known finding (has a regression test): %s\n",
                     target.name.c_str(), what->c_str());
      report.known.push_back(std::move(f));
      continue;
    }
    if (opt.print_findings) print_finding("finding (input minimized)", *what, f.input);
    report.findings.push_back(std::move(f));
  }
  report.seconds = seconds_since(t0);
  if (say)
    std::fprintf(stderr, "fuzz %s: %" PRId64 " inputs in %.1f s (%.0f/s), %zu new findings\n",
                 target.name.c_str(), report.iterations, report.seconds,
                 report.iterations / std::max(report.seconds, 1e-9), report.findings.size());
  return report;
}

}  // namespace ft::fuzz

// The crash handler, the watchdog and what they print (see fuzz_watch.hpp).
#include "tests/fuzz/fuzz_watch.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

namespace ft::fuzz {

namespace {

// The body of a C++ string literal for `s`, in pieces to `sink(const char*, size_t)`; a literal
// is split after a \x escape so that a following hex digit is not read as part of it. No
// allocation: the crash handler uses it.
template <class Sink>
void escape(const std::string& s, Sink&& sink) {
  static const char* hex = "0123456789abcdef";
  bool after_hex = false;
  for (unsigned char c : s) {
    char buf[8];
    std::size_t n = 0;
    const bool hexdigit =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (after_hex && hexdigit) sink("\" \"", 3);
    after_hex = false;
    if (c == '\n') {
      buf[n++] = '\\', buf[n++] = 'n';
    } else if (c == '"' || c == '\\' || c == '?') {  // '?': no accidental trigraphs
      buf[n++] = '\\', buf[n++] = static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      buf[n++] = static_cast<char>(c);
    } else {
      buf[n++] = '\\', buf[n++] = 'x', buf[n++] = hex[c >> 4], buf[n++] = hex[c & 15];
      after_hex = true;
    }
    sink(buf, n);
  }
}

// ---- what the crash handler and the watchdog print: the input being run --------------------

std::int64_t now_ns() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

struct Current {
  const char* target = "";
  std::uint64_t seed = 0;
  std::atomic<std::int64_t> iteration{-1};
  std::atomic<const Input*> input{nullptr};
  std::atomic<std::int64_t> started_ns{0};  // 0: between inputs
};
Current g_current;

// Async-signal-safe: only write(2) on a stack buffer.
void put(const char* s, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}
void put(const char* s) {
  std::size_t n = 0;
  while (s[n]) ++n;
  put(s, n);
}
void put_u64(std::uint64_t v, bool hex) {
  char buf[24];
  int k = 0;
  do {
    const unsigned d = static_cast<unsigned>(hex ? v % 16 : v % 10);
    buf[k++] = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
    v = hex ? v / 16 : v / 10;
  } while (v);
  if (hex) put("0x");
  while (k) put(&buf[--k], 1);
}
void put_literal(const std::string& s) {
  put("\"");
  escape(s, [](const char* p, std::size_t n) { put(p, n); });
  put("\"");
}

void print_input(const Input& in) {
  put("  data: ");
  put_literal(in.data);
  put("\n");
  for (const auto& a : in.args) {
    put("  arg:  ");
    put_literal(a);
    put("\n");
  }
}

void print_header(const char* kind, const char* what) {
  put("\nFUZZ FINDING [");
  put(g_current.target);
  put("] ");
  put(kind);
  put(": ");
  put(what);
  put("\n  replay: FT_FUZZ_SEED=");
  put_u64(g_current.seed, true);
  put(" FT_FUZZ_ONLY=");
  put_u64(static_cast<std::uint64_t>(g_current.iteration.load()), false);
  put(" tools/fuzz.sh 0 ");
  put(g_current.target);
  put("\n");
}

// Once: the process is on its way out (a sanitizer's death callback may be followed by its abort).
void print_current(const char* kind, const char* what) {
  if (g_current.started_ns.exchange(0) == 0) return;
  print_header(kind, what);
  if (const Input* in = g_current.input.load()) print_input(*in);
}

// ---- crash handling -------------------------------------------------------------------------

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer owns SIGSEGV and friends and reports them itself; it calls this on the way out.
// (GCC links UBSan as a separate runtime that does not: its reports reach on_signal through
// UBSAN_OPTIONS=abort_on_error=1, as tools/sanitize.sh and tools/fuzz.sh set it.)
void on_sanitizer_death() { print_current("crash", "a sanitizer report (above)"); }
constexpr int kSignals[] = {SIGABRT};
#else
constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#endif
constexpr std::size_t kNumSignals = sizeof(kSignals) / sizeof(kSignals[0]);
struct sigaction g_previous[kNumSignals];

void on_signal(int sig) {
  char what[32] = "signal ";
  int n = 7;
  if (sig >= 10) what[n++] = static_cast<char>('0' + sig / 10);
  what[n++] = static_cast<char>('0' + sig % 10);
  what[n] = 0;
  print_current("crash", what);
  // Hand the signal on (doctest names the test case, then the process dies).
  for (std::size_t k = 0; k < kNumSignals; ++k)
    if (kSignals[k] == sig) sigaction(sig, &g_previous[k], nullptr);
  raise(sig);
}

}  // namespace

CrashReporting::CrashReporting(const char* target, std::uint64_t seed) {
  g_current.target = target;
  g_current.seed = seed;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (std::size_t k = 0; k < kNumSignals; ++k) sigaction(kSignals[k], &sa, &g_previous[k]);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(on_sanitizer_death);
#endif
}

CrashReporting::~CrashReporting() {
  for (std::size_t k = 0; k < kNumSignals; ++k) sigaction(kSignals[k], &g_previous[k], nullptr);
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_set_death_callback(nullptr);
#endif
}

Watchdog::Watchdog(double timeout_s) {
  const auto timeout_ns = static_cast<std::int64_t>(timeout_s * 1e9);
  thread_ = std::jthread([timeout_ns](std::stop_token stop) {
    while (!stop.stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const std::int64_t t = g_current.started_ns.load();
      if (t == 0 || now_ns() - t < timeout_ns) continue;
      const std::string what = "one input ran longer than " +
                               std::to_string(timeout_ns / 1000000000) +
                               " s (FT_FUZZ_INPUT_TIMEOUT)";
      print_current("hang", what.c_str());
      std::signal(SIGABRT, SIG_DFL);
      std::abort();
    }
  });
}

Watchdog::~Watchdog() = default;  // jthread: stop requested and joined

void begin_input(std::int64_t iteration, const Input* input) {
  g_current.iteration = iteration;
  g_current.input = input;
  g_current.started_ns = now_ns();
}

void end_input() {
  g_current.started_ns = 0;
  g_current.input = nullptr;
}

void print_finding(const char* kind, const std::string& what, const Input& input) {
  print_header(kind, what.c_str());
  print_input(input);
}

std::string cpp_literal(const std::string& s) {
  std::string out = "\"";
  escape(s, [&](const char* p, std::size_t n) { out.append(p, n); });
  return out + "\"";
}

}  // namespace ft::fuzz

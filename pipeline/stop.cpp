// Stop requests (see stop.hpp): async-signal-safe handlers that set a flag, and the time limit.
#include "pipeline/stop.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "pipeline/error.hpp"
#include "pipeline/stage.hpp"

namespace ft {

namespace {

std::atomic<int> g_signal{0};   // the first stop signal received (0: none)
std::atomic<int> g_signals{0};  // how many were received
std::atomic<bool> g_active{false};
std::atomic<bool> g_stepped{false};          // a step ran since the StopGuard started
std::atomic<std::int64_t> g_deadline_ns{0};  // steady clock; 0 = no time limit
struct sigaction g_old_term, g_old_int;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void say(const char* text) {
  // write(2) is async-signal-safe; nothing to do if stderr is gone.
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, text, std::strlen(text));
}

void on_stop_signal(int sig) {
  const int count = ++g_signals;
  int none = 0;
  g_signal.compare_exchange_strong(none, sig);
  if (count == 1) {
    say("\nflowtrain: stopping at the next training step and saving a checkpoint (a third signal "
        "ends the process at once)\n");
  } else if (count == 2) {
    say("\nflowtrain: already stopping; one more signal ends the process at once (the last "
        "checkpoint written stays intact)\n");
  } else {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
}

}  // namespace

const char* stop_reason_text(StopReason r) {
  switch (r) {
    case StopReason::time_limit:
      return "the time limit ([run] time_limit)";
    case StopReason::sigterm:
      return "SIGTERM";
    case StopReason::sigint:
      return "SIGINT";
    case StopReason::none:
      break;
  }
  return "another process of the run";
}

std::optional<std::int64_t> parse_time_limit(const std::string& text) {
  static constexpr char kUnits[] = {'h', 'm', 's'};
  static constexpr std::int64_t kSeconds[] = {3600, 60, 1};
  std::int64_t total = 0;
  std::size_t i = 0, next_unit = 0;
  while (i < text.size()) {
    std::int64_t v = 0;
    const std::size_t digits_from = i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      if (v > 1'000'000'000) return std::nullopt;  // absurd: over 30 years in any unit
      v = v * 10 + (text[i] - '0');
    }
    if (i == digits_from || i == text.size()) return std::nullopt;  // no digits, or no unit
    std::size_t u = next_unit;
    while (u < 3 && kUnits[u] != text[i]) ++u;
    if (u == 3) return std::nullopt;  // unknown, repeated or out-of-order unit
    total += v * kSeconds[u];
    next_unit = u + 1;
    ++i;
  }
  if (total <= 0) return std::nullopt;
  return total;
}

StopGuard::StopGuard(std::int64_t time_limit_s) {
  FT_ASSERT(!g_active.exchange(true));
  g_signal = 0;
  g_signals = 0;
  g_stepped = false;
  g_deadline_ns = time_limit_s > 0 ? now_ns() + time_limit_s * 1'000'000'000 : 0;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, &g_old_term);
  sigaction(SIGINT, &sa, &g_old_int);
}

StopGuard::~StopGuard() {
  sigaction(SIGTERM, &g_old_term, nullptr);
  sigaction(SIGINT, &g_old_int, nullptr);
  g_deadline_ns = 0;
  g_active = false;
}

StopReason local_stop_reason() {
  if (!g_active.load(std::memory_order_relaxed)) return StopReason::none;
  switch (g_signal.load(std::memory_order_relaxed)) {
    case SIGTERM:
      return StopReason::sigterm;
    case SIGINT:
      return StopReason::sigint;
    default:
      break;
  }
  const std::int64_t deadline = g_deadline_ns.load(std::memory_order_relaxed);
  if (deadline > 0 && g_stepped.load(std::memory_order_relaxed) && now_ns() >= deadline)
    return StopReason::time_limit;
  return StopReason::none;
}

bool should_stop(const RunContext& ctx) {
  const bool local = local_stop_reason() != StopReason::none;
  const bool stop = ctx.agree_stop ? ctx.agree_stop(local) : local;
  if (!stop) g_stepped = true;  // the step this boundary opens runs
  return stop;
}

}  // namespace ft

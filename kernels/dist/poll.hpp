// The one waiting loop of every communicator: poll a completion test against a deadline.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace ft::dist {

// Calls done() until it returns true (then true) or `timeout_s` passes (then false; 0 = no
// deadline). Spins briefly, then naps with a growing pause capped at 0.5 ms: latency stays well
// under a millisecond while a long wait does not steal a core from the TBB workers.
template <class Done>
bool poll_until(double timeout_s, Done&& done) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  auto nap = std::chrono::microseconds(2);
  for (int i = 0;; ++i) {
    if (done()) return true;
    if (timeout_s > 0 && std::chrono::duration<double>(clock::now() - start).count() > timeout_s)
      return false;
    if (i >= 64) {
      std::this_thread::sleep_for(nap);
      nap = std::min(nap * 2, std::chrono::microseconds(500));
    }
  }
}

// "%g" seconds for messages: 1, 0.5, 300.
inline std::string seconds_text(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", s);
  return text;
}

}  // namespace ft::dist

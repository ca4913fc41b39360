// What the fuzz loop is running, for the processes that do not survive an input: the loop
// registers each input here, so a crash (a signal, or a sanitizer's report) or a hang (the
// watchdog thread) prints it as a string literal with the line that replays it before the process
// dies. Printing uses only write(2), as it runs inside signal handlers.
#pragma once

#include <cstdint>
#include <string>
#include <thread>

#include "tests/fuzz/fuzz_driver.hpp"

namespace ft::fuzz {

// While one exists: fatal signals (outside AddressSanitizer, which reports those itself) print
// the running input, then go to the handlers installed before (doctest's).
class CrashReporting {
 public:
  CrashReporting(const char* target, std::uint64_t seed);
  ~CrashReporting();
  CrashReporting(const CrashReporting&) = delete;
  CrashReporting& operator=(const CrashReporting&) = delete;
};

// While one exists: an input running longer than timeout_s is printed and the process aborts.
class Watchdog {
 public:
  explicit Watchdog(double timeout_s);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::jthread thread_;
};

// The input about to run (kept by the caller until end_input()).
void begin_input(std::int64_t iteration, const Input* input);
void end_input();

// "FUZZ FINDING [target] kind: what", the replay line, then the input.
void print_finding(const char* kind, const std::string& what, const Input& input);

}  // namespace ft::fuzz

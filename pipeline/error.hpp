// ft::Error: the one exception type for user and environment errors (bad config, missing file,
// library status). Messages name the thing at fault; only main() catches and sets the exit code.
// FT_ASSERT guards internal invariants: a failure is a flowtrain bug, not a user error.
#pragma once

#include <stdexcept>
#include <string>

namespace ft {

class Error : public std::runtime_error {
 public:
  // exit_code 2: the input is wrong (config, CLI, data); 1: the run failed for another reason.
  explicit Error(const std::string& message, int exit_code = 1)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// A config or command-line error: exit code 2.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error(message, 2) {}
};

[[noreturn]] void assert_fail(const char* expr, const char* file, int line);

}  // namespace ft

#define FT_ASSERT(expr) ((expr) ? (void)0 : ::ft::assert_fail(#expr, __FILE__, __LINE__))

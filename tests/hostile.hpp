// Helpers of the hostile-input tests: inputs made on the fly (a JPEG whose header claims more
// pixels than it holds), a soft address-space limit for a scope (an allocation the code under test
// must never make then fails instead of exhausting the machine), peak RSS, and running a body in a
// child process with a deadline (for cases whose failure mode is blocking forever).
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace ft::testing {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// Bytes of address space this process maps now (VmSize in /proc/self/status).
inline std::size_t mapped_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmSize:") {
      std::size_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

// Peak resident set size of this process so far (ru_maxrss), in bytes.
inline std::size_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<std::size_t>(u.ru_maxrss) * 1024;
}

// Lowers the soft RLIMIT_AS to what is mapped now plus `headroom` for the scope. AddressSanitizer
// reserves terabytes of shadow memory, so under it the limit is left alone (active() is false).
class AddressSpaceLimit {
 public:
  explicit AddressSpaceLimit(std::size_t headroom) {
    if (kAddressSanitizer || getrlimit(RLIMIT_AS, &old_) != 0) return;
    rlimit lim = old_;
    lim.rlim_cur = static_cast<rlim_t>(mapped_bytes() + headroom);
    if (old_.rlim_cur != RLIM_INFINITY && lim.rlim_cur > old_.rlim_cur)
      lim.rlim_cur = old_.rlim_cur;
    active_ = setrlimit(RLIMIT_AS, &lim) == 0;
  }
  ~AddressSpaceLimit() {
    if (active_) setrlimit(RLIMIT_AS, &old_);
  }
  AddressSpaceLimit(const AddressSpaceLimit&) = delete;
  AddressSpaceLimit& operator=(const AddressSpaceLimit&) = delete;
  bool active() const { return active_; }

 private:
  rlimit old_{};
  bool active_ = false;
};

// Runs body in a forked child and returns its exit status, or 128 + the signal that ended it
// (SIGALRM: it ran past timeout_s). Only for processes without running thread pools: a child of
// a multi-threaded parent must not use them.
inline int run_in_child(const std::function<int()>& body, unsigned timeout_s) {
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(timeout_s);
    int code = 99;
    try {
      code = body();
    } catch (...) {
      code = 98;
    }
    _exit(code);
  }
  if (pid < 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

// `jpg` with the dimensions in its SOF0/SOF1/SOF2 marker replaced: a decompression bomb when they
// are large (the file stays a few hundred bytes). Returns an empty vector when there is no SOF.
inline std::vector<std::uint8_t> with_claimed_size(std::vector<std::uint8_t> jpg, int height,
                                                   int width) {
  for (std::size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] != 0xFF || (jpg[i + 1] != 0xC0 && jpg[i + 1] != 0xC1 && jpg[i + 1] != 0xC2))
      continue;
    jpg[i + 5] = static_cast<std::uint8_t>(height >> 8);
    jpg[i + 6] = static_cast<std::uint8_t>(height & 0xFF);
    jpg[i + 7] = static_cast<std::uint8_t>(width >> 8);
    jpg[i + 8] = static_cast<std::uint8_t>(width & 0xFF);
    return jpg;
  }
  return {};
}

}  // namespace ft::testing

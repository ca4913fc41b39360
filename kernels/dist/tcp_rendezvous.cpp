// The TCP rendezvous (see tcp_rendezvous.hpp). Wire format: a connecting rank sends "FTRV", its
// rank and the world size (big-endian uint32s); rank 0 answers "FTRV", the payload length and the
// payload. Every socket is non-blocking and every wait polls against the one deadline.
#include "kernels/dist/tcp_rendezvous.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "kernels/dist/poll.hpp"

namespace ft::dist {

namespace {

constexpr char kMagic[4] = {'F', 'T', 'R', 'V'};
using Clock = std::chrono::steady_clock;

struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

struct Deadline {
  Clock::time_point end;
  bool none;
  explicit Deadline(double s)
      : end(Clock::now() +
            std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s))),
        none(s <= 0) {}
  // Milliseconds left for poll(): -1 (forever) without a deadline, 0 once passed.
  int ms_left() const {
    if (none) return -1;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    return static_cast<int>(std::max<long long>(0, std::min<long long>(left.count() + 1, 1 << 30)));
  }
  bool passed() const { return !none && Clock::now() >= end; }
};

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

bool wait_for(int fd, short events, const Deadline& d) {
  pollfd p{fd, events, 0};
  int rc;
  do rc = ::poll(&p, 1, d.ms_left());
  while (rc < 0 && errno == EINTR);
  return rc > 0;
}

// false when the deadline passed or the peer closed before `n` bytes moved.
bool io_all(int fd, char* buf, std::size_t n, bool sending, const Deadline& d) {
  while (n > 0) {
    if (!wait_for(fd, sending ? POLLOUT : POLLIN, d)) return false;
    const ssize_t k = sending ? ::send(fd, buf, n, MSG_NOSIGNAL) : ::recv(fd, buf, n, 0);
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (k <= 0) return false;
    buf += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

std::string header(std::uint32_t a, std::uint32_t b) {
  std::string h(kMagic, 4);
  for (std::uint32_t v : {htonl(a), htonl(b)}) h.append(reinterpret_cast<const char*>(&v), 4);
  return h;
}

// Parses "FTRV" + two uint32s; false on a wrong magic.
bool parse_header(const char* h, std::uint32_t& a, std::uint32_t& b) {
  if (std::memcmp(h, kMagic, 4) != 0) return false;
  std::memcpy(&a, h + 4, 4);
  std::memcpy(&b, h + 8, 4);
  a = ntohl(a);
  b = ntohl(b);
  return true;
}

Fd listen_on(int port) {
  Fd fd(::socket(AF_INET6, SOCK_STREAM, 0));
  const bool v6 = fd.fd >= 0;
  if (!v6) fd = Fd(::socket(AF_INET, SOCK_STREAM, 0));
  if (fd.fd < 0) throw DistError(std::string("TCP rendezvous: socket: ") + std::strerror(errno));
  const int one = 1, zero = 0;
  ::setsockopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    ::setsockopt(fd.fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  // IPv4 clients too
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<std::uint16_t>(port));
    rc = ::bind(fd.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    rc = ::bind(fd.fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0 || ::listen(fd.fd, 128) != 0) {
    const int err = errno;
    throw DistError("TCP rendezvous: rank 0 cannot listen on MASTER_PORT=" + std::to_string(port) +
                    ": " + std::strerror(err) +
                    (err == EADDRINUSE ? std::string(" (another program holds it; a torchrun agent "
                                                     "does when TORCHELASTIC_USE_AGENT_STORE=True:"
                                                     " give flowtrain a free MASTER_PORT)")
                                       : std::string()));
  }
  set_nonblocking(fd.fd);
  return fd;
}

std::string missing_ranks(const std::vector<bool>& connected) {
  std::string out;
  for (std::size_t r = 1; r < connected.size(); ++r)
    if (!connected[r]) out += (out.empty() ? "rank " : ", rank ") + std::to_string(r);
  return out;
}

std::string serve(const World& w, const std::string& payload, double timeout_s) {
  const Deadline d(timeout_s);
  Fd listener = listen_on(w.master_port);
  std::vector<bool> connected(static_cast<std::size_t>(w.size), false);
  const std::string reply = header(static_cast<std::uint32_t>(payload.size()), 0) + payload;
  for (int left = w.size - 1; left > 0;) {
    if (!wait_for(listener.fd, POLLIN, d))
      throw DistError("TCP rendezvous on port " + std::to_string(w.master_port) + ": " +
                      missing_ranks(connected) + " did not connect within " +
                      seconds_text(timeout_s) + " s");
    Fd c(::accept(listener.fd, nullptr, nullptr));
    if (c.fd < 0) continue;
    set_nonblocking(c.fd);
    char h[12];
    std::uint32_t rank = 0, size = 0;
    // A stranger (wrong magic, silence) is dropped; the deadline still bounds the whole wait.
    if (!io_all(c.fd, h, sizeof h, false, d) || !parse_header(h, rank, size)) continue;
    if (size != static_cast<std::uint32_t>(w.size) || rank == 0 || rank >= size)
      throw DistError("TCP rendezvous: a process says it is rank " + std::to_string(rank) + " of " +
                      std::to_string(size) + ", but this job has " + std::to_string(w.size) +
                      " processes (two jobs on one MASTER_PORT?)");
    if (connected[rank])
      throw DistError("TCP rendezvous: rank " + std::to_string(rank) + " connected twice");
    std::string out = reply;
    if (!io_all(c.fd, out.data(), out.size(), true, d)) continue;
    connected[rank] = true;
    --left;
  }
  return payload;
}

// One connection attempt to any address of MASTER_ADDR; an invalid Fd when none answered.
Fd try_connect(const addrinfo* list, const Deadline& d, std::string& last_error) {
  for (const addrinfo* a = list; a; a = a->ai_next) {
    Fd fd(::socket(a->ai_family, a->ai_socktype, a->ai_protocol));
    if (fd.fd < 0) continue;
    set_nonblocking(fd.fd);
    if (::connect(fd.fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_error = std::strerror(errno);
      continue;
    }
    if (!wait_for(fd.fd, POLLOUT, d)) continue;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0) return fd;
    last_error = std::strerror(err);
  }
  return Fd();
}

std::string fetch(const World& w, double timeout_s) {
  const Deadline d(timeout_s);
  const std::string where = w.master_addr + ":" + std::to_string(w.master_port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc =
      ::getaddrinfo(w.master_addr.c_str(), std::to_string(w.master_port).c_str(), &hints, &list);
  if (rc != 0)
    throw DistError("TCP rendezvous: MASTER_ADDR=" + w.master_addr +
                    " does not resolve: " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> owner(list, ::freeaddrinfo);
  std::string last_error = "no answer";
  for (;;) {  // rank 0 may not listen yet: retry until the deadline
    Fd fd = try_connect(list, d, last_error);
    char h[12];
    std::uint32_t len = 0, unused = 0;
    const std::string hello =
        header(static_cast<std::uint32_t>(w.rank), static_cast<std::uint32_t>(w.size));
    std::string tmp = hello;
    if (fd.fd >= 0 && io_all(fd.fd, tmp.data(), tmp.size(), true, d) &&
        io_all(fd.fd, h, sizeof h, false, d) && parse_header(h, len, unused)) {
      std::string payload(len, '\0');
      if (io_all(fd.fd, payload.data(), len, false, d)) return payload;
    }
    if (d.passed())
      throw DistError("TCP rendezvous: rank " + std::to_string(w.rank) + " could not get the id " +
                      "from rank 0 at " + where + " within " + seconds_text(timeout_s) +
                      " s (last error: " + last_error + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

std::string tcp_exchange(const World& world, const std::string& payload_from_rank0,
                         double timeout_s) {
  if (world.size == 1) return payload_from_rank0;
  if (world.master_addr.empty() || world.master_port <= 0)
    throw DistError("TCP rendezvous needs MASTER_ADDR and MASTER_PORT for " +
                    std::to_string(world.size) + " processes");
  return world.rank == 0 ? serve(world, payload_from_rank0, timeout_s) : fetch(world, timeout_s);
}

}  // namespace ft::dist

// The TCP rendezvous with real processes on localhost: three forked ranks (the others start before
// rank 0 listens, so connecting is retried), a binary 128-byte payload like an NCCL id, and the
// deadlines: rank 0 names the rank that never connected, a rank with no rank 0 names the address.
#include "kernels/dist/tcp_rendezvous.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

using ft::dist::tcp_exchange;
using ft::dist::World;

namespace {

// A port the kernel just handed out (free a moment ago; the rendezvous binds it again).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

World world(int rank, int size, int port) {
  World w;
  w.rank = rank;
  w.size = size;
  w.launcher = ft::dist::Launcher::torchrun;
  w.master_addr = "localhost";
  w.master_port = port;
  return w;
}

std::string id_bytes() {
  std::string id(128, '\0');
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<char>(i * 37 + 11);
  return id;
}

// Runs `body` in a child; its exit code: 0 on true, 1 on false, 2 when it threw `needle`, 3 else.
pid_t spawn(const std::function<bool()>& body, const std::string& needle = "") {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 3;
    try {
      code = body() ? 0 : 1;
    } catch (const ft::dist::DistError& e) {
      code = !needle.empty() && std::string(e.what()).find(needle) != std::string::npos ? 2 : 3;
    }
    ::_exit(code);
  }
  return pid;
}

int exit_code(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("rank 0 hands its payload to every rank, which may start first") {
  const int port = free_port();
  const std::string id = id_bytes();
  std::vector<pid_t> kids;
  for (int r = 1; r < 3; ++r)
    kids.push_back(spawn([&, r] { return tcp_exchange(world(r, 3, port), "ignored", 10) == id; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(tcp_exchange(world(0, 3, port), id, 10) == id);
  for (pid_t k : kids) CHECK(exit_code(k) == 0);
}

TEST_CASE("rank 0 names the rank that never connected") {
  const int port = free_port();
  const pid_t one = spawn([&] { return tcp_exchange(world(1, 3, port), "", 10) == "x"; });
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(tcp_exchange(world(0, 3, port), "x", 2),
                       doctest::Contains(": rank 2 did not connect within 2 s"),
                       ft::dist::DistError);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(exit_code(one) == 0);  // rank 1 got its payload before rank 0 gave up
}

TEST_CASE("a rank with no rank 0 to reach gives up at the deadline naming the address") {
  const int port = free_port();
  const auto start = std::chrono::steady_clock::now();
  const std::string where = "from rank 0 at localhost:" + std::to_string(port);
  CHECK_THROWS_WITH_AS(tcp_exchange(world(1, 2, port), "", 0.5), doctest::Contains(where.c_str()),
                       ft::dist::DistError);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  World bad = world(1, 2, port);
  bad.master_addr = "no-such-host.invalid";
  CHECK_THROWS_WITH_AS(tcp_exchange(bad, "", 0.5), doctest::Contains("does not resolve"),
                       ft::dist::DistError);
}

TEST_CASE("a process of another job on the same port is refused") {
  const int port = free_port();
  const pid_t stranger =
      spawn([&] { return tcp_exchange(world(1, 4, port), "", 1) == "x"; }, "TCP rendezvous");
  CHECK_THROWS_WITH_AS(tcp_exchange(world(0, 2, port), "x", 3),
                       doctest::Contains("this job has 2 processes"), ft::dist::DistError);
  CHECK(exit_code(stranger) == 2);  // rank 0 hung up on it: it gave up at its deadline
}

TEST_CASE("rank 0 says when MASTER_PORT is taken") {
  const int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  REQUIRE(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(holder, 1) == 0);
  socklen_t len = sizeof a;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  const std::string expected = "cannot listen on MASTER_PORT=" + std::to_string(port);
  CHECK_THROWS_WITH_AS(tcp_exchange(world(0, 2, port), "x", 1), doctest::Contains(expected.c_str()),
                       ft::dist::DistError);
  CHECK_THROWS_WITH_AS(tcp_exchange(world(0, 2, port), "x", 1),
                       doctest::Contains("another program holds it"), ft::dist::DistError);
  ::close(holder);
}

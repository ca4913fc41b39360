// A process of an MPI job for mpi_test.cpp: `dist_scenarios SCENARIO` under mpirun. Correct
// scenarios print "rank R ok" and exit 0; failure scenarios end the job the way training would
// (main catches, the communicator's fail() takes the job down with the rank and reason).
#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <thread>

#include "kernels/dist/comm.hpp"

using ft::dist::Comm;

namespace {

void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("check failed: " + what);
}

// Rank r holds r+1 at i (times i % 7); the sum over N ranks is N(N+1)/2 * (i % 7): exact in float.
void allreduce_exact(Comm& c, std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>((c.rank() + 1) * (i % 7));
  c.allreduce_sum(v.data(), n);
  const float tri = static_cast<float>(c.size() * (c.size() + 1) / 2);
  for (std::size_t i = 0; i < n; ++i)
    expect(v[i] == tri * static_cast<float>(i % 7), "allreduce_sum float at " + std::to_string(i));
}

// Random floats: every rank must end with the same bits (checked by gathering them).
void allreduce_identical_bits(Comm& c) {
  std::mt19937 gen(1234 + c.rank());
  std::normal_distribution<float> dist;
  std::vector<float> v(100003);
  for (auto& x : v) x = dist(gen);
  c.allreduce_sum(v.data(), v.size());
  const std::string mine(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  const auto all = c.allgather(mine);
  for (const auto& other : all) expect(other == mine, "allreduce bits equal on every rank");
}

// Three buckets in flight at once, tested between pieces of "backward" work, waited in order.
void async_overlap(Comm& c) {
  std::vector<std::vector<float>> buckets(3, std::vector<float>(250000, 1.0f));
  std::vector<std::unique_ptr<ft::dist::Request>> reqs;
  for (auto& b : buckets) {
    for (auto& x : b) x *= static_cast<float>(c.rank() + 1);
    reqs.push_back(c.allreduce_sum_async(b.data(), b.size()));
    for (auto& r : reqs) r->test();
  }
  for (auto& r : reqs) r->wait();
  expect(reqs[0]->test(), "test() true after wait()");
  const float tri = static_cast<float>(c.size() * (c.size() + 1) / 2);
  for (auto& b : buckets)
    for (float x : b) expect(x == tri, "async bucket sum");
}

void doubles(Comm& c) {
  std::vector<double> v{0.1 * c.rank(), -1.0 * c.rank(), 1e300 * (c.rank() == 1)};
  std::vector<double> m{static_cast<double>(c.rank()), -static_cast<double>(c.rank())};
  c.allreduce_sum(v.data(), v.size());
  c.allreduce_max(m.data(), m.size());
  double tenths = 0;
  for (int r = 0; r < c.size(); ++r) tenths += 0.1 * r;
  expect(std::fabs(v[0] - tenths) < 1e-12, "double sum");  // order-dependent rounding only
  expect(v[1] == -c.size() * (c.size() - 1) / 2.0, "double sum exact");
  expect(v[2] == 1e300, "double sum of a large value");
  expect(m[0] == c.size() - 1 && m[1] == 0, "allreduce_max");
}

void gather_and_broadcast(Comm& c) {
  // Rank 1 sends nothing; the others send rank-dependent lengths and bytes (including zeros).
  auto payload = [](int r) { return r == 1 ? std::string() : std::string(1000 * r + 3, char(r)); };
  const auto all = c.allgather(payload(c.rank()));
  expect(static_cast<int>(all.size()) == c.size(), "allgather count");
  for (int r = 0; r < c.size(); ++r) expect(all[r] == payload(r), "allgather rank order");
  std::vector<std::uint32_t> block(1 << 18);
  const int root = c.size() - 1;
  for (std::size_t i = 0; i < block.size(); ++i)
    block[i] = c.rank() == root ? static_cast<std::uint32_t>(i * 2654435761u) : 0;
  c.broadcast(block.data(), block.size() * sizeof(block[0]), root);
  for (std::size_t i = 0; i < block.size(); ++i)
    expect(block[i] == static_cast<std::uint32_t>(i * 2654435761u), "broadcast");
  c.barrier();
}

void collectives(Comm& c) {
  expect(std::string(c.backend()) == "mpi", "backend mpi");
  allreduce_exact(c, 1000);
  allreduce_exact(c, 3000000);  // large: a different algorithm inside MPI
  allreduce_identical_bits(c);
  // The training stage calls MPI from a TBB worker, not the thread that initialised MPI.
  std::exception_ptr error;
  std::thread worker([&] {
    try {
      async_overlap(c);
    } catch (...) {
      error = std::current_exception();
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
  doubles(c);
  gather_and_broadcast(c);
}

// After one collective together, the last rank sleeps past the others' deadline: they throw
// DistError naming it and the last collective it reached.
void late_rank(Comm& c) {
  float x = 1;
  c.allreduce_sum(&x, 1);  // with the default deadline: process start-up skew is no timeout
  c.timeout_s = 1;
  if (c.rank() == c.size() - 1) std::this_thread::sleep_for(std::chrono::seconds(4));
  c.allreduce_sum(&x, 1);
}

void fail_rank(Comm& c) {
  c.timeout_s = 60;
  if (c.rank() == 1) c.fail(7, "deliberate failure");
  c.barrier();
}

// Rank 1 leaves main with an error code without calling fail(), as a careless caller would.
void early_exit(Comm& c) {
  c.timeout_s = 2;
  if (c.rank() == 1) std::exit(2);
  c.barrier();
}

// Rank 1 dies inside a large all-reduce it has started (the others are mid-collective too).
void killed_rank(Comm& c) {
  c.timeout_s = 60;
  std::vector<float> v(4000000, 1.0f);
  auto req = c.allreduce_sum_async(v.data(), v.size());
  req->test();
  if (c.rank() == 1) raise(SIGKILL);
  req->wait();
}

}  // namespace

int main(int argc, char** argv) {
  const std::map<std::string, std::function<void(Comm&)>> scenarios{{"collectives", collectives},
                                                                    {"late_rank", late_rank},
                                                                    {"fail_rank", fail_rank},
                                                                    {"killed_rank", killed_rank},
                                                                    {"early_exit", early_exit}};
  if (argc != 2 || !scenarios.count(argv[1])) {
    std::cerr << "usage: dist_scenarios collectives|late_rank|fail_rank|killed_rank|early_exit\n";
    return 2;
  }
  std::unique_ptr<Comm> comm;
  try {
    comm = ft::dist::make_cpu_comm(ft::dist::detect_world(), 10);
    scenarios.at(argv[1])(*comm);
  } catch (const std::exception& e) {
    if (!comm) {
      std::cerr << "flowtrain: error: " << e.what() << "\n";
      return 2;
    }
    comm->fail(dynamic_cast<const ft::dist::DistError*>(&e) ? 3 : 2, e.what());
  }
  std::cout << "rank " << comm->rank() << " ok" << std::endl;
  return 0;
}

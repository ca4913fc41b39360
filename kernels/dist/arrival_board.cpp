// Arrival announcements for MPI collectives (see arrival_board.hpp for the protocol and its cost).
#include "kernels/dist/arrival_board.hpp"

#include <algorithm>

#include "kernels/dist/mpi_runtime.hpp"

namespace ft::dist::mpi {

namespace {
constexpr int kArrivalTag = 7001;
}

ArrivalBoard::ArrivalBoard(MPI_Comm ctl, int rank, int size)
    : ctl_(ctl), rank_(rank), size_(size), seen_(static_cast<std::size_t>(size), 0) {}

ArrivalBoard::~ArrivalBoard() { finish(); }

void ArrivalBoard::finish() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized || sent_.empty()) return;
  // Eager 8-byte sends complete at once; give stragglers a moment, then let MPI finish them alone.
  try {
    poll_until(0.5, [&] {
      retire_sent();
      return sent_.empty();
    });
  } catch (const DistError&) {
  }
  for (auto& s : sent_)
    for (auto& r : s.requests)
      if (r != MPI_REQUEST_NULL) MPI_Request_free(&r);
  sent_.clear();
}

void ArrivalBoard::announce(std::int64_t seq) {
  seen_[static_cast<std::size_t>(rank_)] = seq;
  retire_sent();
  Sent& s = sent_.emplace_back(Sent{seq, {}});
  s.requests.reserve(static_cast<std::size_t>(size_ - 1));
  for (int to = 0; to < size_; ++to) {
    if (to == rank_) continue;
    MPI_Request& r = s.requests.emplace_back(MPI_REQUEST_NULL);
    check(MPI_Isend(&s.seq, 1, MPI_INT64_T, to, kArrivalTag, ctl_, &r), "MPI_Isend (arrival)");
  }
}

void ArrivalBoard::retire_sent() {
  while (!sent_.empty()) {
    int done = 0;
    auto& reqs = sent_.front().requests;
    check(MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE),
          "MPI_Testall (arrival)");
    if (!done) return;
    sent_.pop_front();
  }
}

void ArrivalBoard::drain() {
  for (;;) {
    int flag = 0;
    MPI_Status status;
    check(MPI_Iprobe(MPI_ANY_SOURCE, kArrivalTag, ctl_, &flag, &status), "MPI_Iprobe (arrival)");
    if (!flag) return;
    std::int64_t seq = 0;
    check(MPI_Recv(&seq, 1, MPI_INT64_T, status.MPI_SOURCE, kArrivalTag, ctl_, MPI_STATUS_IGNORE),
          "MPI_Recv (arrival)");
    auto& seen = seen_[static_cast<std::size_t>(status.MPI_SOURCE)];
    seen = std::max(seen, seq);
  }
}

std::string ArrivalBoard::laggards(std::int64_t seq) {
  drain();
  std::string out;
  for (int r = 0; r < size_; ++r) {
    const std::int64_t s = seen_[static_cast<std::size_t>(r)];
    if (s >= seq) continue;
    if (!out.empty()) out += ", ";
    out += "rank " + std::to_string(r) +
           (s == 0 ? " (no collective yet)"
                   : " (last arrived at collective #" + std::to_string(s) + ")");
  }
  return out;
}

}  // namespace ft::dist::mpi

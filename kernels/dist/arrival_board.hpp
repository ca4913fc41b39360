// Which rank reached which collective, so a timed-out wait can name the ranks that did not arrive.
// Every collective on an MPI communicator has a sequence number k (1, 2, ...). On entering
// collective k a rank sends k (8 bytes, eager) to every other rank on a private duplicate of the
// communicator; each rank drains those messages whenever it polls and keeps the highest k seen per
// rank. A rank that times out at k names the ranks whose highest k is below it, with no extra round
// trip (the laggards may be asleep or dead, so asking them then would not work). Cost per
// collective: size-1 tiny sends and as many receives, a few microseconds next to a 25 MB bucket;
// it grows with size^2 messages in all, fine for the tens of processes flowtrain targets.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace ft::dist::mpi {

class ArrivalBoard {
 public:
  ArrivalBoard(MPI_Comm ctl, int rank, int size);
  ~ArrivalBoard();
  ArrivalBoard(const ArrivalBoard&) = delete;
  ArrivalBoard& operator=(const ArrivalBoard&) = delete;

  void announce(std::int64_t seq);  // this rank entered collective `seq`
  void drain();                     // take in every announcement that has come
  // "rank 2 (last arrived at collective #4), rank 3 (no collective yet)", or "" when every rank
  // has arrived at `seq`.
  std::string laggards(std::int64_t seq);
  // Completes (or hands to MPI) the announcements still being sent; before the communicator goes.
  void finish();

 private:
  struct Sent {
    std::int64_t seq;  // the send buffer: lives until every request completed
    std::vector<MPI_Request> requests;
  };
  void retire_sent();

  MPI_Comm ctl_;
  int rank_, size_;
  std::vector<std::int64_t> seen_;  // highest collective announced by each rank
  std::deque<Sent> sent_;           // deque: elements stay put while it grows at the back
};

}  // namespace ft::dist::mpi

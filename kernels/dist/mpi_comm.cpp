// The MPI communicator: every collective is nonblocking underneath (MPI_Iallreduce, MPI_Ibcast,
// MPI_Iallgather(v), MPI_Ibarrier) and waited for by polling MPI_Testall against the deadline
// Comm::timeout_s, counted from the start of the wait. Each collective is numbered and announced
// on the arrival board, so a timeout names the ranks that never reached it. After a timeout the
// communicator refuses further work and the process aborts the job at exit (an MPI collective
// cannot be cancelled, so MPI_Finalize would wait for it forever).
#include <climits>
#include <cstdio>
#include <cstdlib>

#include "kernels/dist/arrival_board.hpp"
#include "kernels/dist/mpi_runtime.hpp"

namespace ft::dist::mpi {

namespace {

// MPI counts are int: larger buffers go in chunks of 2^30 elements.
constexpr std::size_t kChunk = std::size_t{1} << 30;

class MpiComm;

class MpiRequest final : public Request {
 public:
  MpiRequest(MpiComm& comm, std::int64_t seq, std::string what)
      : comm_(comm), seq_(seq), what_(std::move(what)) {}
  ~MpiRequest() override;
  bool test() override;
  void wait() override;
  std::vector<MPI_Request> requests;

 private:
  MpiComm& comm_;
  std::int64_t seq_;
  std::string what_;
  bool done_ = false;
};

class MpiComm final : public Comm {
 public:
  MpiComm(MPI_Comm data, MPI_Comm ctl, int rank, int size)
      : data_(data), ctl_(ctl), rank_(rank), size_(size), board_(ctl, rank, size) {}
  ~MpiComm() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    // A communicator that outlives MPI (a static) has nothing left to free; a broken one may
    // still have collectives pending on it.
    if (finalized || broken_) return;
    board_.finish();
    MPI_Comm_free(&data_);
    MPI_Comm_free(&ctl_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }

  std::unique_ptr<Request> allreduce_sum_async(float* data, std::size_t n) override {
    return reduce(data, n, MPI_FLOAT, MPI_SUM, "allreduce_sum of " + std::to_string(n) + " floats");
  }
  void allreduce_sum(double* data, std::size_t n) override {
    reduce(data, n, MPI_DOUBLE, MPI_SUM, "allreduce_sum of " + std::to_string(n) + " doubles")
        ->wait();
  }
  void allreduce_max(double* data, std::size_t n) override {
    reduce(data, n, MPI_DOUBLE, MPI_MAX, "allreduce_max of " + std::to_string(n) + " doubles")
        ->wait();
  }
  std::vector<std::string> allgather(const std::string& bytes) override;
  void broadcast(void* data, std::size_t bytes, int root) override;
  void barrier() override {
    auto req = begin("barrier");
    check(MPI_Ibarrier(data_, &req->requests.emplace_back()), "MPI_Ibarrier");
    req->wait();
  }
  [[noreturn]] void fail(int code, const std::string& reason) override {
    std::fprintf(stderr, "flowtrain: error: rank %d: %s\n", rank_, reason.c_str());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

  // Polls the collective's requests (and the arrival board) until done or the deadline.
  bool progress(std::vector<MPI_Request>& reqs) {
    int done = 0;
    check(MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE),
          "MPI_Testall");
    board_.drain();
    return done != 0;
  }
  bool broken() const { return broken_; }
  [[noreturn]] void timed_out(std::int64_t seq, const std::string& what) {
    broken_ = true;
    mark_abandoned();
    const std::string late = board_.laggards(seq);
    throw DistError("collective #" + std::to_string(seq) + " (" + what + ") timed out after " +
                    seconds_text(timeout_s) + " s: " +
                    (late.empty() ? std::string("every rank arrived but it did not complete")
                                  : late + " did not arrive"));
  }

 private:
  std::unique_ptr<MpiRequest> begin(std::string what) {
    if (broken_)
      throw DistError("the MPI communicator is unusable after an earlier timeout (" + what + ")");
    board_.announce(++seq_);
    return std::make_unique<MpiRequest>(*this, seq_, std::move(what));
  }
  std::unique_ptr<Request> reduce(void* data, std::size_t n, MPI_Datatype type, MPI_Op op,
                                  std::string what) {
    auto req = begin(std::move(what));
    int elem = 0;
    MPI_Type_size(type, &elem);
    for (std::size_t at = 0; at < n; at += kChunk) {
      const int count = static_cast<int>(std::min(kChunk, n - at));
      check(MPI_Iallreduce(MPI_IN_PLACE, static_cast<char*>(data) + at * elem, count, type, op,
                           data_, &req->requests.emplace_back()),
            "MPI_Iallreduce");
    }
    return req;
  }

  MPI_Comm data_, ctl_;
  int rank_, size_;
  std::int64_t seq_ = 0;
  bool broken_ = false;
  ArrivalBoard board_;
};

MpiRequest::~MpiRequest() {
  if (done_ || comm_.broken()) return;
  // Dropped unfinished (an exception unwinding): the buffer must not be freed under MPI, so
  // finish it within the deadline; a collective that cannot finish is abandoned.
  try {
    if (poll_until(comm_.timeout_s, [&] { return comm_.progress(requests); })) return;
  } catch (const DistError&) {
  }
  mark_abandoned();
}

bool MpiRequest::test() { return done_ || (done_ = comm_.progress(requests)); }

void MpiRequest::wait() {
  if (!poll_until(comm_.timeout_s, [&] { return test(); })) comm_.timed_out(seq_, what_);
}

std::vector<std::string> MpiComm::allgather(const std::string& bytes) {
  auto req = begin("allgather of " + std::to_string(bytes.size()) + " bytes");
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(size_));
  sizes[static_cast<std::size_t>(rank_)] = static_cast<std::int64_t>(bytes.size());
  check(MPI_Iallgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, sizes.data(), 1, MPI_INT64_T, data_,
                       &req->requests.emplace_back()),
        "MPI_Iallgather");
  req->wait();
  std::vector<int> counts(sizes.size()), displs(sizes.size());
  std::int64_t total = 0;
  for (std::size_t r = 0; r < sizes.size(); ++r) {
    if (total + sizes[r] > INT_MAX)
      throw DistError("allgather: " + std::to_string(total + sizes[r]) +
                      " bytes in all is more than one MPI call can carry (2 GiB)");
    counts[r] = static_cast<int>(sizes[r]);
    displs[r] = static_cast<int>(total);
    total += sizes[r];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  auto data = begin("allgatherv of " + std::to_string(total) + " bytes");
  check(MPI_Iallgatherv(bytes.data(), counts[static_cast<std::size_t>(rank_)], MPI_BYTE, all.data(),
                        counts.data(), displs.data(), MPI_BYTE, data_,
                        &data->requests.emplace_back()),
        "MPI_Iallgatherv");
  data->wait();
  std::vector<std::string> out;
  for (std::size_t r = 0; r < sizes.size(); ++r)
    out.push_back(all.substr(static_cast<std::size_t>(displs[r]), sizes[r]));
  return out;
}

void MpiComm::broadcast(void* data, std::size_t bytes, int root) {
  if (root < 0 || root >= size_)
    throw DistError("broadcast: root " + std::to_string(root) + " is not a rank (0.." +
                    std::to_string(size_ - 1) + ")");
  auto req =
      begin("broadcast of " + std::to_string(bytes) + " bytes from rank " + std::to_string(root));
  for (std::size_t at = 0; at < bytes; at += kChunk)
    check(MPI_Ibcast(static_cast<char*>(data) + at, static_cast<int>(std::min(kChunk, bytes - at)),
                     MPI_BYTE, root, data_, &req->requests.emplace_back()),
          "MPI_Ibcast");
  req->wait();
}

// A private communicator (its own message space), duplicated without blocking past the deadline.
MPI_Comm duplicate_world(double timeout_s) {
  MPI_Comm out = MPI_COMM_NULL;
  MPI_Request req = MPI_REQUEST_NULL;
  check(MPI_Comm_idup(MPI_COMM_WORLD, &out, &req), "MPI_Comm_idup");
  const bool done = poll_until(timeout_s, [&] {
    int flag = 0;
    check(MPI_Test(&req, &flag, MPI_STATUS_IGNORE), "MPI_Test (communicator setup)");
    return flag != 0;
  });
  if (!done) {
    mark_abandoned();
    throw DistError("MPI communicator setup timed out after " + seconds_text(timeout_s) +
                    " s: not every process of the job started it");
  }
  check(MPI_Comm_set_errhandler(out, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  return out;
}

}  // namespace

std::unique_ptr<Comm> make_mpi_comm(const World& world, double timeout_s) {
  init_once();
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (rank != world.rank || size != world.size)
    throw DistError("MPI says rank " + std::to_string(rank) + " of " + std::to_string(size) +
                    " but the launcher's variables say rank " + std::to_string(world.rank) +
                    " of " + std::to_string(world.size));
  MPI_Comm data = duplicate_world(timeout_s);
  MPI_Comm ctl = duplicate_world(timeout_s);
  auto comm = std::make_unique<MpiComm>(data, ctl, rank, size);
  comm->timeout_s = timeout_s;
  return comm;
}

}  // namespace ft::dist::mpi

// The NCCL communicator: collectives on device memory, stream-ordered on the caller's stream. The
// unique id travels over the MPI bootstrap, or over the TCP rendezvous without MPI. NCCL runs in
// non-blocking mode so that setup, and every wait, polls against Comm::timeout_s; a timed-out
// wait aborts the NCCL communicator (ncclCommAbort frees the stuck kernels) and throws DistError.
// NCCL cannot tell which rank is missing: the message says so, and the failing rank's own error
// names it. The current CUDA device is the caller's (the GPU of the local rank).
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "kernels/dist/poll.hpp"
#include "kernels/dist/tcp_rendezvous.hpp"

namespace ft::dist {

namespace {

void cuda_check(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) throw DistError(std::string(what) + " failed: " + cudaGetErrorString(rc));
}

class NcclComm;

// Completion of one enqueued collective: an event recorded on the stream right after it.
class NcclRequest final : public Request {
 public:
  NcclRequest(NcclComm& comm, std::int64_t seq, std::string what);
  ~NcclRequest() override { cudaEventDestroy(event_); }
  bool test() override;
  void wait() override;

 private:
  NcclComm& comm_;
  cudaEvent_t event_ = nullptr;
  std::int64_t seq_;
  std::string what_;
  bool done_ = false;
};

class NcclComm final : public Comm {
 public:
  NcclComm(ncclComm_t comm, cudaStream_t stream, Comm& bootstrap, int rank, int size)
      : comm_(comm), stream_(stream), bootstrap_(bootstrap), rank_(rank), size_(size) {}
  // ncclCommFinalize waits for the peers (a collective): bounded by the deadline, then aborted.
  ~NcclComm() override {
    if (scratch_) cudaFree(scratch_);
    if (aborted_) return;
    ncclResult_t rc = ncclCommFinalize(comm_);
    const bool settled = rc != ncclInProgress || poll_until(timeout_s, [&] {
                           ncclCommGetAsyncError(comm_, &rc);
                           return rc != ncclInProgress;
                         });
    if (settled && rc == ncclSuccess)
      ncclCommDestroy(comm_);
    else
      ncclCommAbort(comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "nccl"; }
  cudaStream_t stream() const { return stream_; }

  std::unique_ptr<Request> allreduce_sum_async(float* data, std::size_t n) override {
    return enqueue("allreduce_sum of " + std::to_string(n) + " floats", [&] {
      return ncclAllReduce(data, data, n, ncclFloat, ncclSum, comm_, stream_);
    });
  }
  void allreduce_sum(double* data, std::size_t n) override { reduce(data, n, ncclSum, "sum"); }
  void allreduce_max(double* data, std::size_t n) override { reduce(data, n, ncclMax, "max"); }
  std::vector<std::string> allgather(const std::string& bytes) override;
  void broadcast(void* data, std::size_t bytes, int root) override;
  void barrier() override {
    char* one = static_cast<char*>(staging(1));
    enqueue("barrier", [&] {
      return ncclAllReduce(one, one, 1, ncclInt8, ncclMax, comm_, stream_);
    })->wait();
  }
  [[noreturn]] void fail(int code, const std::string& reason) override;

  // NCCL's asynchronous error, if any: DistError after aborting.
  void check_async(const std::string& what) {
    ncclResult_t state = ncclSuccess;
    ncclCommGetAsyncError(comm_, &state);
    if (state != ncclSuccess && state != ncclInProgress) {
      abort();
      throw DistError(what + ": NCCL reported " + ncclGetErrorString(state) +
                      " (a peer probably failed); communicator aborted");
    }
  }
  [[noreturn]] void timed_out(std::int64_t seq, const std::string& what) {
    abort();
    throw DistError("NCCL collective #" + std::to_string(seq) + " (" + what + ") on rank " +
                    std::to_string(rank_) + " timed out after " + seconds_text(timeout_s) +
                    " s; communicator aborted (NCCL cannot say which rank did not arrive: look "
                    "for the first rank that reported an error)");
  }

 private:
  void abort() {
    if (!aborted_) ncclCommAbort(comm_);
    aborted_ = true;
  }
  template <class Call>
  std::unique_ptr<Request> enqueue(std::string what, Call&& call) {
    if (aborted_) throw DistError("the NCCL communicator is unusable after an earlier failure");
    ncclResult_t rc = call();
    // Non-blocking mode: a call may still be in progress when it returns.
    if (rc == ncclInProgress && !poll_until(timeout_s, [&] {
          return ncclCommGetAsyncError(comm_, &rc), rc != ncclInProgress;
        }))
      timed_out(seq_ + 1, what);
    if (rc != ncclSuccess) {
      abort();
      throw DistError(what + " failed: " + ncclGetErrorString(rc));
    }
    return std::make_unique<NcclRequest>(*this, ++seq_, std::move(what));
  }
  // Device scratch for host-side arguments (metrics, strings): grows, never shrinks. At least
  // 1 MiB, so it is rarely freed: cudaFree waits for the whole device, gradient all-reduces too.
  void* staging(std::size_t bytes) {
    if (bytes > scratch_bytes_) {
      if (scratch_) cudaFree(scratch_);
      scratch_ = nullptr;
      bytes = std::max(bytes, std::size_t{1} << 20);
      cuda_check(cudaMalloc(&scratch_, bytes), "cudaMalloc (NCCL staging)");
      scratch_bytes_ = bytes;
    }
    return scratch_;
  }
  // Host or device doubles: host ones are staged through device scratch.
  void reduce(double* data, std::size_t n, ncclRedOp_t op, const char* name);

  ncclComm_t comm_;
  cudaStream_t stream_;
  Comm& bootstrap_;
  int rank_, size_;
  std::int64_t seq_ = 0;
  bool aborted_ = false;
  void* scratch_ = nullptr;
  std::size_t scratch_bytes_ = 0;
};

NcclRequest::NcclRequest(NcclComm& comm, std::int64_t seq, std::string what)
    : comm_(comm), seq_(seq), what_(std::move(what)) {
  cuda_check(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreate");
  cuda_check(cudaEventRecord(event_, comm_.stream()), "cudaEventRecord");
}

bool NcclRequest::test() {
  if (done_) return true;
  const cudaError_t rc = cudaEventQuery(event_);
  if (rc == cudaErrorNotReady) {
    comm_.check_async(what_);
    return false;
  }
  cuda_check(rc, "cudaEventQuery");
  return done_ = true;
}

void NcclRequest::wait() {
  if (!poll_until(comm_.timeout_s, [&] { return test(); })) comm_.timed_out(seq_, what_);
}

bool is_device_pointer(const void* p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    cudaGetLastError();  // clear: an unknown host pointer is not an error here
    return false;
  }
  return attr.type == cudaMemoryTypeDevice || attr.type == cudaMemoryTypeManaged;
}

void NcclComm::reduce(double* data, std::size_t n, ncclRedOp_t op, const char* name) {
  const std::string what =
      std::string("allreduce_") + name + " of " + std::to_string(n) + " doubles";
  const bool device = is_device_pointer(data);
  double* buf = device ? data : static_cast<double*>(staging(n * sizeof(double)));
  if (!device)
    cuda_check(cudaMemcpyAsync(buf, data, n * sizeof(double), cudaMemcpyHostToDevice, stream_),
               "cudaMemcpyAsync");
  enqueue(what, [&] { return ncclAllReduce(buf, buf, n, ncclDouble, op, comm_, stream_); })->wait();
  if (!device)
    cuda_check(cudaMemcpy(data, buf, n * sizeof(double), cudaMemcpyDeviceToHost), "cudaMemcpy");
}

void NcclComm::broadcast(void* data, std::size_t bytes, int root) {
  if (root < 0 || root >= size_)
    throw DistError("broadcast: root " + std::to_string(root) + " is not a rank");
  const bool device = is_device_pointer(data);
  void* buf = device ? data : staging(bytes);
  if (!device)
    cuda_check(cudaMemcpyAsync(buf, data, bytes, cudaMemcpyHostToDevice, stream_),
               "cudaMemcpyAsync");
  enqueue("broadcast of " + std::to_string(bytes) + " bytes", [&] {
    return ncclBroadcast(buf, buf, bytes, ncclInt8, root, comm_, stream_);
  })->wait();
  if (!device) cuda_check(cudaMemcpy(data, buf, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

// Host strings: sizes first, then every rank's bytes padded to the longest.
std::vector<std::string> NcclComm::allgather(const std::string& bytes) {
  const auto n = static_cast<std::size_t>(size_);
  std::vector<std::int64_t> sizes(n);
  auto* dsizes = static_cast<std::int64_t*>(staging(n * sizeof(std::int64_t)));
  const std::int64_t mine = static_cast<std::int64_t>(bytes.size());
  cuda_check(cudaMemcpyAsync(dsizes + rank_, &mine, sizeof mine, cudaMemcpyHostToDevice, stream_),
             "cudaMemcpyAsync");
  enqueue("allgather of sizes", [&] {
    return ncclAllGather(dsizes + rank_, dsizes, 1, ncclInt64, comm_, stream_);
  })->wait();
  cuda_check(cudaMemcpy(sizes.data(), dsizes, n * sizeof(std::int64_t), cudaMemcpyDeviceToHost),
             "cudaMemcpy");
  const auto longest = static_cast<std::size_t>(*std::max_element(sizes.begin(), sizes.end()));
  std::string all(longest * n, '\0');
  char* dall = static_cast<char*>(staging(all.size() + 1));
  cuda_check(cudaMemcpyAsync(dall + longest * rank_, bytes.data(), bytes.size(),
                             cudaMemcpyHostToDevice, stream_),
             "cudaMemcpyAsync");
  enqueue("allgather of " + std::to_string(bytes.size()) + " bytes", [&] {
    return ncclAllGather(dall + longest * rank_, dall, longest, ncclInt8, comm_, stream_);
  })->wait();
  cuda_check(cudaMemcpy(all.data(), dall, all.size(), cudaMemcpyDeviceToHost), "cudaMemcpy");
  std::vector<std::string> out;
  for (std::size_t r = 0; r < n; ++r) out.push_back(all.substr(r * longest, sizes[r]));
  return out;
}

void NcclComm::fail(int code, const std::string& reason) {
  abort();
  if (bootstrap_.size() > 1) bootstrap_.fail(code, reason);  // MPI_Abort: the whole job
  // No MPI: this process ends; the launcher (torchrun) ends the others when one worker fails.
  std::fprintf(stderr, "flowtrain: error: rank %d: %s\n", rank_, reason.c_str());
  std::fflush(nullptr);
  std::_Exit(code);
}

}  // namespace

namespace {

// Rank 0's unique id on every rank: over the MPI bootstrap, or over TCP when there is no MPI.
ncclUniqueId exchange_id(const World& world, Comm& bootstrap, double timeout_s) {
  ncclUniqueId id{};
  if (world.rank == 0) {
    const ncclResult_t rc = ncclGetUniqueId(&id);
    if (rc != ncclSuccess)
      throw DistError(std::string("ncclGetUniqueId: ") + ncclGetErrorString(rc));
  }
  if (world.size == 1) return id;
  if (bootstrap.size() == 1) {
    const std::string got =
        tcp_exchange(world, std::string(reinterpret_cast<const char*>(&id), sizeof id), timeout_s);
    if (got.size() != sizeof id)
      throw DistError("TCP rendezvous: rank 0 sent " + std::to_string(got.size()) +
                      " bytes, not an NCCL id of " + std::to_string(sizeof id));
    std::memcpy(&id, got.data(), sizeof id);
    return id;
  }
  if (bootstrap.size() != world.size || bootstrap.rank() != world.rank)
    throw DistError("NCCL bootstrap: the MPI communicator has rank " +
                    std::to_string(bootstrap.rank()) + " of " + std::to_string(bootstrap.size()) +
                    " but the world is rank " + std::to_string(world.rank) + " of " +
                    std::to_string(world.size));
  bootstrap.broadcast(&id, sizeof id, 0);
  return id;
}

}  // namespace

std::unique_ptr<Comm> make_nccl_comm(const World& world, Comm& bootstrap, void* cuda_stream,
                                     double timeout_s) {
  const ncclUniqueId id = exchange_id(world, bootstrap, timeout_s);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;  // setup and every call return at once; we poll against the deadline
  ncclComm_t comm = nullptr;
  ncclResult_t rc = ncclCommInitRankConfig(&comm, world.size, id, world.rank, &config);
  if (rc == ncclInProgress) {
    const bool settled = poll_until(timeout_s, [&] {
      ncclCommGetAsyncError(comm, &rc);
      return rc != ncclInProgress;
    });
    if (!settled) {
      ncclCommAbort(comm);
      throw DistError("NCCL setup on rank " + std::to_string(world.rank) + " timed out after " +
                      seconds_text(timeout_s) + " s: not every one of the " +
                      std::to_string(world.size) + " processes joined");
    }
  }
  if (rc != ncclSuccess) {
    if (comm) ncclCommAbort(comm);
    throw DistError(std::string("ncclCommInitRankConfig: ") + ncclGetErrorString(rc));
  }
  auto out = std::make_unique<NcclComm>(comm, static_cast<cudaStream_t>(cuda_stream), bootstrap,
                                        world.rank, world.size);
  out->timeout_s = timeout_s;
  return out;
}

}  // namespace ft::dist

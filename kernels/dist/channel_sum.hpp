// SyncBatchNorm's per-channel all-reduce (nn::ChannelSum) over a run's communicator: the batch
// norm layers stay free of MPI and NCCL, and see only this. Host doubles: MPI reduces them in
// place; NCCL stages them through device memory on its stream (the layers' stream).
#pragma once

#include <memory>

#include "kernels/dist/comm.hpp"
#include "kernels/nn/batch_norm_sync.hpp"

namespace ft::dist {

class CommChannelSum final : public nn::ChannelSum {
 public:
  explicit CommChannelSum(std::shared_ptr<Comm> comm) : comm_(std::move(comm)) {}
  void allreduce(double* data, std::size_t n) const override { comm_->allreduce_sum(data, n); }

 private:
  std::shared_ptr<Comm> comm_;
};

}  // namespace ft::dist

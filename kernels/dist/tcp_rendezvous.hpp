// A tiny TCP rendezvous for launches without MPI (torchrun-style MASTER_ADDR/MASTER_PORT): rank 0
// listens on MASTER_PORT and hands its payload (the NCCL unique id) to every other rank, which
// connects with retries until the deadline. Not a transport: one small message, once per run.
#pragma once

#include <string>

#include "kernels/dist/comm.hpp"

namespace ft::dist {

// Rank 0 returns `payload_from_rank0` once every other rank has connected and received it; the
// others return what rank 0 sent (their own `payload_from_rank0` is ignored). Throws DistError
// after `timeout_s` naming the ranks that never connected (on rank 0) or the address that could
// not be reached (on the others).
std::string tcp_exchange(const World& world, const std::string& payload_from_rank0,
                         double timeout_s);

}  // namespace ft::dist

// make_nccl_comm in a build without CUDA/NCCL: says so instead of failing to link.
#include "kernels/dist/comm.hpp"

namespace ft::dist {

std::unique_ptr<Comm> make_nccl_comm(const World&, Comm&, void*, double) {
  throw DistError(
      "make_nccl_comm: flowtrain was built without CUDA/NCCL (configure with -Dgpu=enabled on a "
      "machine with the CUDA toolkit)");
}

}  // namespace ft::dist

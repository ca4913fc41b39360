// Builds without CUDA: the synchronised CUDA batch norm says why it cannot be built.
#include <stdexcept>

#include "kernels/nn/batch_norm_sync.hpp"

namespace ft::nn::cuda {

ModulePtr make_sync_batch_norm(const BatchNormSpec&, std::shared_ptr<const ChannelSum>) {
  throw std::runtime_error(
      "this flowtrain was built without CUDA (meson option gpu): no GPU layers");
}

}  // namespace ft::nn::cuda

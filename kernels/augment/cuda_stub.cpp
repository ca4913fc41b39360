// The CUDA entry points when flowtrain is built without CUDA: nothing is available, and trying
// to construct a CudaAugment says so.
#include <stdexcept>

#include "kernels/augment/cuda.hpp"

namespace ft::aug {

struct CudaAugment::Impl {};

bool cuda_augment_available(std::string* why) {
  if (why) *why = "flowtrain was built without CUDA (nvcc was not found at configure time)";
  return false;
}

CudaAugment::CudaAugment(int /*device*/) {
  throw std::runtime_error(
      "flowtrain was built without CUDA (nvcc was not found at configure time)");
}
CudaAugment::~CudaAugment() = default;

void CudaAugment::run(const std::vector<AugmentOp>& /*ops*/, const CudaBatch& /*batch*/) {
  throw std::runtime_error("flowtrain was built without CUDA");
}

void CudaAugment::set_profiling(bool /*on*/) {}
const std::vector<CudaAugment::StepTiming>& CudaAugment::last_profile() const {
  static const std::vector<StepTiming> none;
  return none;
}
double CudaAugment::copy_bandwidth_gbs(std::size_t /*bytes*/) { return 0.0; }

std::shared_ptr<float> cuda_alloc_floats(std::size_t /*n*/) {
  throw std::runtime_error("flowtrain was built without CUDA");
}

}  // namespace ft::aug

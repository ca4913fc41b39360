// What Conv2d (cuda) keeps per input shape (nvcc only, conv2d.cu's): cuDNN's heuristic list for
// each pass, ranked as conv_algorithms.hpp says, the bias-gradient split, and at Precision::bf16
// the layout its operands take.
#pragma once

#include <cstddef>
#include <vector>

#include "kernels/nn/cuda/conv_algorithms.hpp"
#include "kernels/nn/cuda/reductions.cuh"
#include "kernels/nn/cuda/runtime.cuh"

namespace ft::nn::cuda {

inline bool uses_tensor_ops(cudnnMathType_t m) {
  return m == CUDNN_TENSOR_OP_MATH || m == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// cuDNN's heuristic list for one pass, as conv_algorithms.hpp ranks it. The math type to run an
// algorithm with is the listed one, except that CUDNN_DEFAULT_MATH (which permits TF32 on Ampere
// and later) runs as CUDNN_FMA_MATH when TF32 is off.
// bf16 data runs on tensor cores with whatever math cuDNN lists (TF32 concerns float data only).
template <class Perf>
inline std::vector<ListedAlgorithm> ranked(const Perf* perf, int count, bool bf16) {
  const bool tensor_ops = bf16 || allow_tf32();
  std::vector<ListedAlgorithm> listed;
  for (int i = 0; i < count; ++i) {
    const Perf& p = perf[i];
    ListedAlgorithm a;
    a.algo = static_cast<int>(p.algo);
    a.math = tensor_ops || p.mathType != CUDNN_DEFAULT_MATH ? p.mathType : CUDNN_FMA_MATH;
    a.usable = p.status == CUDNN_STATUS_SUCCESS;
    a.deterministic = p.determinism == CUDNN_DETERMINISTIC;
    a.tensor_ops = uses_tensor_ops(p.mathType);
    a.fp16_conversion = p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
    a.workspace = p.memory;
    listed.push_back(a);
  }
  return rank_algorithms(listed, tensor_ops);
}

// One pass's ranked algorithms for one input shape, and where the last working one sits.
struct PassPlan {
  std::vector<ListedAlgorithm> ranked;
  std::size_t current = 0;                 // the first that has worked (earlier ones failed)
  std::size_t recorded = std::size_t(-1);  // the nondeterministic one last noted, if any
};
struct ShapePlan {
  PassPlan fwd, data, filter;
  ChannelSumsPlan bias_sums;
  // bf16: operands in NHWC (tensor-op layout), or NCHW where cuDNN's heuristics list no usable
  // NHWC algorithm for some pass of this shape (cuDNN pads NCHW for tensor cores itself).
  bool nhwc = false;
};

}  // namespace ft::nn::cuda

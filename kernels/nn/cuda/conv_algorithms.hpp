// How Conv2d (cuda) orders cuDNN's convolution algorithms and falls back when one fails at
// execution (as PyTorch does), in plain C++ so tests run it without a GPU: algorithms and math
// types travel as ints. A nondeterministic algorithm that actually runs is recorded once per layer
// shape and pass in a process-wide list (nondeterministic_algorithms(), the run's summary.json).
#pragma once

#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace ft::nn::cuda {

// One entry of cuDNN's heuristic list (cudnnConvolution*AlgoPerf_t), reduced to what the choice
// reads.
struct ListedAlgorithm {
  int algo = 0;                  // cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  int math = 0;                  // the cudnnMathType_t to set on the descriptor when running it
  bool usable = true;            // cuDNN listed it with CUDNN_STATUS_SUCCESS
  bool deterministic = true;     // CUDNN_DETERMINISTIC
  bool tensor_ops = false;       // tensor-op (TF32) math
  bool fp16_conversion = false;  // CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
  std::size_t workspace = 0;     // bytes
};

// The algorithms worth trying, best first: cuDNN's heuristic order, every deterministic one
// before any nondeterministic one (a run should repeat bit for bit when it can). Dropped: those
// listed with an error status, those that down-convert float to FP16 (range and precision loss
// well beyond TF32), and tensor-op ones unless TF32 is allowed.
inline std::vector<ListedAlgorithm> rank_algorithms(const std::vector<ListedAlgorithm>& listed,
                                                    bool allow_tensor_ops) {
  std::vector<ListedAlgorithm> ranked;
  for (const bool deterministic : {true, false})
    for (const ListedAlgorithm& a : listed)
      if (a.usable && a.deterministic == deterministic && !a.fp16_conversion &&
          (allow_tensor_ops || !a.tensor_ops))
        ranked.push_back(a);
  return ranked;
}

// Runs attempt(ranked[i]) for i = start, start + 1, ... until one returns an empty string (it
// ran) and returns that i; otherwise attempt returns what failed (a cuDNN status, a workspace it
// could not allocate) and the next is tried. Algorithms before `start` failed on an earlier call.
// When none runs, throws std::runtime_error naming `what` (layer, shape and pass) and each
// failure; `hint` says why the list may be short.
template <class Attempt>
std::size_t run_first_that_works(const std::vector<ListedAlgorithm>& ranked, std::size_t start,
                                 const std::string& what, const std::string& hint,
                                 Attempt&& attempt) {
  std::string failures;
  for (std::size_t i = start; i < ranked.size(); ++i) {
    const std::string failed = attempt(ranked[i]);
    if (failed.empty()) return i;
    failures += "; algorithm " + std::to_string(ranked[i].algo) + ": " + failed;
  }
  if (ranked.empty()) throw std::runtime_error(what + ": cuDNN lists no usable algorithm" + hint);
  std::string msg = what + ": every algorithm cuDNN lists failed" + hint + failures;
  if (start > 0) msg += "; " + std::to_string(start) + " before these failed on an earlier call";
  throw std::runtime_error(msg);
}

// What ran without a deterministic guarantee in this process, each entry once, in first-use order.
class AlgorithmRecord {
 public:
  void note(const std::string& entry) {
    std::lock_guard lock(mutex_);
    for (const std::string& e : entries_)
      if (e == entry) return;
    entries_.push_back(entry);
  }
  std::vector<std::string> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> entries_;
};

inline AlgorithmRecord& nondeterministic_record() {
  static AlgorithmRecord record;
  return record;
}

}  // namespace ft::nn::cuda

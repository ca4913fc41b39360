// A user buffer in a plain layout paired with the layout a oneDNN primitive chose for it: when
// they differ, the reorder between them is built once (setup) and run on every call.
#pragma once

#include <omp.h>

#include <dnnl.hpp>

#include "kernels/nn/cpu/dnnl_context.hpp"

namespace ft::nn::cpu {

// Runs the oneDNN calls in its scope on the calling thread alone (oneDNN's OpenMP build reads
// omp_get_max_threads() per call). For small reorders: waking a second thread costs more than
// the copy, and far more when the machine is loaded.
class SingleThreadScope {
 public:
  explicit SingleThreadScope(bool active) : saved_(active ? omp_get_max_threads() : 0) {
    if (saved_ > 1) omp_set_num_threads(1);
  }
  ~SingleThreadScope() {
    if (saved_ > 1) omp_set_num_threads(saved_);
  }
  SingleThreadScope(const SingleThreadScope&) = delete;
  SingleThreadScope& operator=(const SingleThreadScope&) = delete;

 private:
  int saved_;
};

class MemoryPair {
 public:
  MemoryPair() = default;
  // accumulate: store() adds the primitive's output into the user buffer (a reorder with a sum
  // post-op) instead of overwriting it.
  MemoryPair(const dnnl::memory::desc& user_md, const dnnl::memory::desc& prim_md,
             bool accumulate = false)
      : user_(user_md, engine(), DNNL_MEMORY_NONE),
        reordered_(user_md != prim_md),
        small_(user_md.get_size() < kSmallBytes) {
    if (reordered_) {
      prim_ = dnnl::memory(prim_md, engine());
      to_prim_ = make_reorder(user_, prim_);
      to_user_ = make_reorder(prim_, user_, accumulate);
    } else {
      prim_ = user_;
    }
  }
  // An input: the primitive's memory, filled from `p`.
  dnnl::memory& in(const float* p) {
    user_.set_data_handle(const_cast<float*>(p));
    if (reordered_) {
      SingleThreadScope serial(small_);
      execute(to_prim_, {{DNNL_ARG_FROM, user_}, {DNNL_ARG_TO, prim_}});
    }
    return prim_;
  }
  // An output: the primitive writes here; call store() after executing it.
  dnnl::memory& out(float* p) {
    user_.set_data_handle(p);
    return prim_;
  }
  // After the primitive ran: its output into the user buffer (overwritten, or added to when
  // built with accumulate).
  void store() {
    if (reordered_) {
      SingleThreadScope serial(small_);
      execute(to_user_, {{DNNL_ARG_FROM, prim_}, {DNNL_ARG_TO, user_}});
    }
  }
  bool reordered() const { return reordered_; }
  // The primitive's memory as the last in() or out() left it.
  dnnl::memory& prim() { return prim_; }
  const dnnl::memory& prim() const { return prim_; }

 private:
  dnnl::memory user_, prim_;
  static constexpr std::size_t kSmallBytes = std::size_t{1} << 18;  // 64 Ki floats
  bool reordered_ = false, small_ = false;
  dnnl::reorder to_prim_, to_user_;
};

}  // namespace ft::nn::cpu

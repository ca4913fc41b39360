// The oneDNN CPU engine (one) and stream (one per thread) the CPU layers use, and descriptor
// helpers. oneDNN (Debian's build) runs its threads on OpenMP: omp_set_num_threads decides how
// many.
#pragma once

#include <dnnl.hpp>

#include "kernels/nn/module.hpp"

namespace ft::nn::cpu {

dnnl::engine& engine();
dnnl::stream& stream();

// A plain (dense, row-major) f32 memory descriptor.
dnnl::memory::desc plain_md(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag);

// The f32 descriptor of a tensor of shape s (N, C, H, W) in s.layout.
dnnl::memory::desc md_of(const Shape& s);

// The Layout whose descriptor for s's dims equals md, if any.
bool layout_of(const dnnl::memory::desc& md, const Shape& s, Layout& out);

}  // namespace ft::nn::cpu

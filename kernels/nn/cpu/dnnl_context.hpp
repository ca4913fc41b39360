// The oneDNN CPU engine (one) and stream (one per thread) the CPU layers use, and descriptor
// helpers. oneDNN (Debian's build) runs its threads on OpenMP: omp_set_num_threads decides how
// many.
#pragma once

#include <dnnl.hpp>
#include <string>
#include <unordered_map>

#include "kernels/nn/module.hpp"

namespace ft::nn::cpu {

dnnl::engine& engine();
dnnl::stream& stream();

// Every primitive is created with this attribute (scratchpad_mode::user) and run through
// execute(), which hands it scratch memory from a buffer of the calling thread. oneDNN's default
// library scratchpad is one buffer per thread, sized when a primitive is *created* on that
// thread: a primitive created on one TBB worker and run on another (the pipeline's serial stages
// move between workers) would write past the runner's smaller buffer (a crash seen with
// resnext50_32x4d at 32 and 48 px on 2 threads).
const dnnl::primitive_attr& scratchpad_attr();
// p.execute(stream(), args) with DNNL_ARG_SCRATCHPAD added when p needs scratch memory.
void execute(const dnnl::primitive& p, std::unordered_map<int, dnnl::memory> args);
// A reorder from src to dst created with scratchpad_attr(); accumulate: dst += src.
dnnl::reorder make_reorder(const dnnl::memory& src, const dnnl::memory& dst,
                           bool accumulate = false);

// A plain (dense, row-major) memory descriptor, f32 unless told.
dnnl::memory::desc plain_md(const dnnl::memory::dims& dims, dnnl::memory::format_tag tag,
                            dnnl::memory::data_type type = dnnl::memory::data_type::f32);

// oneDNN's name for a DataType.
dnnl::memory::data_type data_type_of(DataType dtype);

// The data type of a convolution's or matmul's inputs at `precision`.
dnnl::memory::data_type input_type(Precision precision);

// oneDNN's name of an ISA ("avx512_core_bf16"), as in ONEDNN_MAX_CPU_ISA.
std::string isa_name(dnnl::cpu_isa isa);

// Throws std::runtime_error naming `isa` unless it has bf16 instructions (AVX-512 BF16 or AMX):
// without them oneDNN would emulate bf16, slower than f32. Callers pass
// dnnl::get_effective_cpu_isa(); tests pass others.
void require_bf16(dnnl::cpu_isa isa);

// The descriptor of a tensor of shape s (N, C, H, W) in s.layout and s.dtype.
dnnl::memory::desc md_of(const Shape& s);

// The Layout whose descriptor for s's dims and dtype equals md, if any.
bool layout_of(const dnnl::memory::desc& md, const Shape& s, Layout& out);

}  // namespace ft::nn::cpu

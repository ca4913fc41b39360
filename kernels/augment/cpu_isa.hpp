// Which x86 vector extension the CPU loops use: the baseline build targets x86-64-v2 (SSE4.1), and
// a few hot loops (the affine warp, normalize) have AVX2 (and the RGB warp's taps AVX-512) forms
// chosen at run time. Every form
// computes the same float operations in the same order (no FMA), so the results are bit-identical
// whichever runs; tests force each level in turn to check that.
#pragma once

namespace ft::aug {

enum class CpuIsa { sse41, avx2, avx512 };  // avx512: AVX-512 F

// The best level this CPU supports.
CpuIsa best_cpu_isa();
// The level the loops use now: best_cpu_isa() unless set_cpu_isa lowered it.
CpuIsa cpu_isa();
// Use `isa` (clamped to best_cpu_isa()) from now on, in every thread; returns the level set.
// For tests and benchmarks comparing the forms.
CpuIsa set_cpu_isa(CpuIsa isa);

}  // namespace ft::aug

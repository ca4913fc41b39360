// Internal to normalize's CPU loops (cpu.cpp): the AVX2 form (normalize_avx2.cpp), called only
// when cpu_isa() >= CpuIsa::avx2. Values equal normalize_value's, bit for bit.
#pragma once

#include <cstdint>

namespace ft::aug {

// u8 HWC (c == 1 or 3; otherwise does nothing) -> f32 CHW for output pixels [0, 8 * floor(w /
// 8)) of every row, read mirrored when flip; returns that width, where the caller takes over.
int normalize_f32_avx2(float* out, const std::uint8_t* in, int h, int w, int c, const float* mean,
                       const float* stdev, bool flip);

}  // namespace ft::aug

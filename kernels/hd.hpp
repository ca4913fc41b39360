// FT_HD marks a function both the CPU code and the CUDA kernels compile: __host__ __device__
// under nvcc, nothing elsewhere. Every header of shared per-element math includes this one.
#pragma once

#if !defined(FT_HD)
#if defined(__CUDACC__)
#define FT_HD __host__ __device__
#else
#define FT_HD
#endif
#endif

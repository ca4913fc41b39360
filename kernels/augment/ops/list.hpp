// The augmentation ops, one X(name) each: OpKind, the registry (registry.cpp), the parser's op
// names, the CPU loop, the CUDA plan and the CUDA kernel launches all expand this one list. Adding
// an op: a line here, the file pair ops/<name>.{hpp,cpp} (functor; keys, parse, draw, CPU loop),
// its #include in ops/functors.hpp and its .cpp in meson.build (see docs/DESIGN.md).
#pragma once

#define FT_AUGMENT_OPS(X) \
  X(resize)               \
  X(center_crop)          \
  X(random_crop)          \
  X(hflip)                \
  X(rotate)               \
  X(normalize)            \
  X(random_resized_crop)  \
  X(trivial_augment_wide) \
  X(random_erasing)       \
  X(to_rgb)

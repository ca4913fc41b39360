// An allocation bound for the fuzz targets: while armed, any single operator new (and, outside
// AddressSanitizer builds, malloc) larger than the bound fails with std::bad_alloc / nullptr
// instead of reserving the memory, and is recorded so the driver reports it as a finding even
// when the code under test catches the failure.
#pragma once

#include <cstddef>

namespace ft::fuzz {

inline constexpr std::size_t kDefaultAllocationBound = std::size_t{1} << 30;  // 1 GiB

void arm_allocation_bound(std::size_t bytes);
void disarm_allocation_bound();
// The largest refused allocation since arming (0: none).
std::size_t refused_allocation();
// Whether malloc is bounded too (not under AddressSanitizer, which owns malloc).
bool malloc_is_bounded();

}  // namespace ft::fuzz

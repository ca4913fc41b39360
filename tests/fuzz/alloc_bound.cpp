// Replacement global operator new/delete (and, without AddressSanitizer, malloc) for the fuzz
// executable only: see alloc_bound.hpp. Every new goes to malloc and every delete to free, so the
// pairs stay consistent for the sanitizers too. The state is constant-initialised: libraries
// allocate before main.
#include "tests/fuzz/alloc_bound.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>

#if !defined(__SANITIZE_ADDRESS__)
extern "C" void* __libc_malloc(std::size_t n);  // glibc's malloc under its exported alias
#endif

namespace ft::fuzz {

namespace {

constinit std::atomic<std::size_t> g_bound{0};  // 0: disarmed
constinit std::atomic<std::size_t> g_refused{0};

bool refuse(std::size_t n) {
  const std::size_t bound = g_bound.load(std::memory_order_relaxed);
  if (bound == 0 || n <= bound) return false;
  std::size_t prev = g_refused.load(std::memory_order_relaxed);
  while (n > prev && !g_refused.compare_exchange_weak(prev, n)) {
  }
  return true;
}

void* allocate(std::size_t n, std::size_t align) {
  if (refuse(n)) throw std::bad_alloc();
  if (n == 0) n = 1;
  void* p = nullptr;
  if (align <= alignof(std::max_align_t))
    p = std::malloc(n);
  else if (posix_memalign(&p, align, n) != 0)
    p = nullptr;
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

void arm_allocation_bound(std::size_t bytes) {
  g_refused.store(0);
  g_bound.store(bytes);
}

void disarm_allocation_bound() { g_bound.store(0); }

std::size_t refused_allocation() { return g_refused.load(); }

bool malloc_is_bounded() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#else
  return true;
#endif
}

}  // namespace ft::fuzz

#if !defined(__SANITIZE_ADDRESS__)
// libjpeg's memory manager allocates with malloc; glibc's free releases what __libc_malloc gave.
extern "C" void* malloc(std::size_t n) {
  if (ft::fuzz::refuse(n)) {
    errno = ENOMEM;
    return nullptr;
  }
  return __libc_malloc(n);
}
#endif

void* operator new(std::size_t n) { return ft::fuzz::allocate(n, 0); }
void* operator new[](std::size_t n) { return ft::fuzz::allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) {
  return ft::fuzz::allocate(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return ft::fuzz::allocate(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return ft::fuzz::allocate(n, 0);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return ft::fuzz::allocate(n, 0);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return ft::fuzz::allocate(n, static_cast<std::size_t>(a));
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  try {
    return ft::fuzz::allocate(n, static_cast<std::size_t>(a));
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
